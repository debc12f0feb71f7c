/** Consumed items a queue keeps before {@link shouldTrimQueue} lets it drop them. */
const TRIM_AFTER = 1024;

/**
 * Whether an array used as a queue, read from index `head`, should drop its
 * consumed prefix (`queue = queue.slice(head)`, `head = 0`): past 1024
 * consumed items and more than half of the array consumed, so each item is
 * copied O(1) times on average. The one rule for every such queue: the
 * store's GC queue, change streams' buffers, collection indexes' retired
 * entries.
 */
export function shouldTrimQueue(head: number, length: number): boolean {
  return head > TRIM_AFTER && head * 2 > length;
}

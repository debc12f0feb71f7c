/** `'snapshot'`: first committer wins on write-write conflicts. `'serializable'`: also no write skew. */
export type Isolation = 'snapshot' | 'serializable';

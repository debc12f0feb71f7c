import { logNames } from './names.js';

/** The NATS subjects one role may publish and subscribe to (a JetStream API call is a publish on `$JS.API.…`). */
export interface SubjectPermissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/** The least privilege of each role of the replicated database `name`, see {@link replicationPermissions}. */
export interface ReplicationPermissions {
  /** A primary (`open({ replicate })`): creates the stream and checkpoint bucket, publishes commit records, uploads checkpoints, trims the stream. */
  readonly primary: SubjectPermissions;
  /** A replica (`openReplica`) or a restore (`restore()`, `epochdb restore`): reads the stream and the checkpoint bucket, nothing else. */
  readonly reader: SubjectPermissions;
}

/** Consumer calls on `stream` (create an ephemeral ordered consumer, pull, answer its flow control, look it up, delete it): what reading a stream takes. */
function consumerCalls(stream: string): string[] {
  return [`$JS.FC.${stream}.>`, `$JS.API.CONSUMER.CREATE.${stream}`, `$JS.API.CONSUMER.CREATE.${stream}.>`, `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`, `$JS.API.CONSUMER.INFO.${stream}.>`, `$JS.API.CONSUMER.DELETE.${stream}.>`];
}

/**
 * The subjects each role of the replicated database `name` needs, and no
 * more: a primary's credentials can write the log and the checkpoints; a
 * reader's (replica, restore) cannot publish a commit record, write or
 * delete an object, purge or delete a stream. Every role also subscribes to
 * `_INBOX.>` for the replies of its requests.
 *
 * @example
 * replicationPermissions('orders').reader.publish; // ['$JS.API.INFO', '$JS.API.STREAM.INFO.EPOCHDB_orders', ...]
 */
export function replicationPermissions(name: string): ReplicationPermissions {
  const { stream, subject, bucket } = logNames(name, 'replicationPermissions()');
  const objects = `OBJ_${bucket}`;
  const read = [
    '$JS.API.INFO',
    // Lists stream names only (the object store finds its stream by subject): no messages, no configuration.
    '$JS.API.STREAM.NAMES',
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    ...consumerCalls(stream),
    `$JS.API.STREAM.INFO.${objects}`,
    `$JS.API.STREAM.MSG.GET.${objects}`,
    `$JS.API.DIRECT.GET.${objects}.>`,
    ...consumerCalls(objects),
  ];
  const write = [subject, `$JS.API.STREAM.CREATE.${stream}`, `$JS.API.STREAM.PURGE.${stream}`, `$JS.API.STREAM.CREATE.${objects}`, `$JS.API.STREAM.PURGE.${objects}`, `$O.${bucket}.>`];
  const subscribe = Object.freeze(['_INBOX.>']);
  return Object.freeze({
    primary: Object.freeze({ publish: Object.freeze([...read, ...write]), subscribe }),
    reader: Object.freeze({ publish: Object.freeze(read), subscribe }),
  });
}

/** {@link replicationPermissions} as a NATS server `authorization` block with one user per role (passwords to fill in). */
export function authorizationBlock(name: string, users: { readonly primary: string; readonly reader: string } = { primary: 'primary', reader: 'reader' }): string {
  const { primary, reader } = replicationPermissions(name);
  const list = (subjects: readonly string[]): string => `[\n${subjects.map((s) => `          ${JSON.stringify(s)}`).join('\n')}\n        ]`;
  const user = (who: string, p: SubjectPermissions): string =>
    `    {\n      user: ${JSON.stringify(who)}, password: $${who.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_PASSWORD\n      permissions: {\n        publish: { allow: ${list(p.publish)} }\n        subscribe: { allow: ${list(p.subscribe)} }\n      }\n    }`;
  return `authorization {\n  users: [\n${user(users.primary, primary)}\n${user(users.reader, reader)}\n  ]\n}`;
}

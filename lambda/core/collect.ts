/**
 * Collect: from an SSM invocation status-change event to an evaluated result, its metrics, alerts and
 * one log line. Split along its seams: ./collect/event.ts (parsing the event, where the output lies),
 * ./collect/wiring.ts (the Lambda's environment), ./collect/deliver.ts (evaluate and deliver a batch),
 * ./collect/log-record.ts (the per-result log line).
 */
export * from './collect/deliver';
export * from './collect/event';
export * from './collect/log-record';
export * from './collect/wiring';

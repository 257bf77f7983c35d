/**
 * Reads an SSM document's Content back from a synthesized template: TaskDocument passes it as a JSON
 * string, or as an Fn::Join of string parts and references when it holds deploy-time values.
 */
export function documentContent(content: unknown): any {
  if (typeof content === 'string') return JSON.parse(content);
  const join = (content as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join?.[0] !== '') throw new Error(`not a document content string or Fn::Join: ${JSON.stringify(content).slice(0, 200)}`);
  const references: unknown[] = [];
  const text = join[1]
    .map((part) => {
      if (typeof part === 'string') return part;
      references.push(part);
      return `@@ref${references.length - 1}@@`;
    })
    .join('');
  const restore = (value: unknown): unknown => {
    if (typeof value === 'string') {
      const only = /^@@ref(\d+)@@$/.exec(value);
      if (only) return references[Number(only[1])];
      if (value.includes('@@ref'))
        return {
          'Fn::Join': [
            '',
            value
              .split(/(@@ref\d+@@)/)
              .filter(Boolean)
              .map((p) => restore(p)),
          ],
        };
      return value;
    }
    if (Array.isArray(value)) return value.map(restore);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, restore(v)]));
    return value;
  };
  return restore(JSON.parse(text));
}

// Party objects hold secret state (polynomials, instance keys, OT seeds, multiplication shares).
// Like KeyShare, they print as a redacted summary: JSON.stringify and util.inspect never reach it.
export const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');

export function redactedSummary(kind: string, index: number, session: string): string {
  return `${kind} { index: ${index}, session: ${JSON.stringify(session)}, secret: <redacted> }`;
}

/**
 * The fake clock of `npm run test:future`: libfaketime's LD_PRELOAD and FAKETIME settings. A child that a
 * test starts with an environment built from scratch gets them too, so every process of the run lives at
 * the same (shifted) time as the test that made its files. Empty on a normal run.
 */
const CLOCK_VARIABLE = /^(LD_PRELOAD|FAKETIME\w*|NO_FAKE_STAT|DONT_FAKE_MONOTONIC)$/;

export function inheritedClockEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && CLOCK_VARIABLE.test(name)) env[name] = value;
  }
  return env;
}

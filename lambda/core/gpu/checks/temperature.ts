/** gpu.temperature: core and memory temperature of each GPU against their levels. */
import { addReading, type CheckOutcome, emptyOutcome } from '../../check-outcome';
import { classify, describeLevels } from '../../thresholds';
import { worstSeverity } from '../../types';
import type { GpuCheckInput } from '../check-input';
import { gpuLabel, maxBy, perGpuFindings } from './per-gpu';

export function temperatureCheck(input: GpuCheckInput): CheckOutcome {
  const { rows } = input;
  const core = input.settings.thresholds.gpuTemperatureC;
  const memory = input.settings.thresholds.gpuMemoryTemperatureC;
  const out = emptyOutcome();
  const hottest = maxBy(rows, (r) => r.reading.temperatureC);
  out.findings.push(
    ...perGpuFindings(rows, {
      check: 'gpu.temperature',
      fields: ['temperature.gpu', 'temperature.memory'],
      evaluateGpu: (row) => {
        const coreSeverity = classify(row.reading.temperatureC, core);
        const memSeverity = classify(row.temperatureMemoryC, memory);
        const severity = worstSeverity([coreSeverity, memSeverity]);
        if (severity === 'ok') return null;
        const parts: string[] = [];
        if (coreSeverity !== 'ok') parts.push(`at ${row.reading.temperatureC} °C`);
        if (memSeverity !== 'ok') parts.push(`memory at ${row.temperatureMemoryC} °C`);
        return {
          severity,
          message: `${gpuLabel(row.reading)} ${parts.join(', ')}: check cooling and airflow`,
          reading: coreSeverity !== 'ok' ? row.reading.temperatureC : row.temperatureMemoryC,
        };
      },
      ok: hottest
        ? {
            message: `${rows.length} GPU${rows.length === 1 ? '' : 's'} within temperature limits (hottest: GPU ${hottest.item.reading.index} at ${hottest.value} °C)`,
            reading: hottest.value,
          }
        : { message: 'no GPU reports a temperature', reading: null },
      threshold: `core ${describeLevels(core, 'above', '°C')}; memory ${describeLevels(memory, 'above', '°C')}`,
    }),
  );
  addReading(out, 'GpuTemperatureMax', hottest?.value ?? null, 'None');
  return out;
}

import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import type { Log, Metrics } from '../../core/ports.js';

export function powertoolsLog(logger: Logger): Log {
  return {
    debug: (message, fields) => logger.debug(message, { ...fields }),
    info: (message, fields) => logger.info(message, { ...fields }),
    warn: (message, fields) => logger.warn(message, { ...fields }),
    error: (message, fields) => logger.error(message, { ...fields }),
  };
}

/** Metrics as EMF through Powertools; `flush` after each invocation publishes what was counted. */
export function powertoolsMetrics(metrics: PowertoolsMetrics): Metrics & { flush(): void } {
  let pending = false;
  return {
    count(name, value = 1) {
      pending = true;
      metrics.addMetric(name, MetricUnit.Count, value);
    },
    flush() {
      // Publishing with nothing counted would only log a warning per request.
      if (!pending) return;
      pending = false;
      metrics.publishStoredMetrics();
    },
  };
}

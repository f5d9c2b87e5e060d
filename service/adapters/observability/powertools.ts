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

export function powertoolsMetrics(metrics: PowertoolsMetrics): Metrics {
  return { count: (name, value = 1) => metrics.addMetric(name, MetricUnit.Count, value) };
}

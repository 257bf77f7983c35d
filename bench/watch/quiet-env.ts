/**
 * Imported first by bench/watch/latency.ts: the collect handler's Powertools logger reads its level when
 * its module is evaluated, so the level must be set before that import (ES modules evaluate in import order).
 */
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
process.env.AWS_REGION = 'eu-west-1';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

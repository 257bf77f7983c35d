import 'aws-sdk-client-mock-vitest/extend';

// The SDK warns about Node 20 on every client construction; the lock file pins versions that support it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

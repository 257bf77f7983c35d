/**
 * Continues a long job in a new invocation of the running function: an asynchronous Invoke
 * (InvocationType Event) of the function's own name (AWS_LAMBDA_FUNCTION_NAME, set by Lambda:
 * https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
 * The new invocation has the function's own asynchronous retries and failure destination.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';

export class LambdaContinuation {
  constructor(
    private readonly client: LambdaClient,
    /** @default - AWS_LAMBDA_FUNCTION_NAME when called */
    private readonly name?: string,
  ) {}

  async continueWith(event: unknown): Promise<void> {
    const functionName = this.name ?? process.env.AWS_LAMBDA_FUNCTION_NAME;
    if (!functionName) throw new Error('AWS_LAMBDA_FUNCTION_NAME is not set: a continuation needs the running function');
    const out = await this.client.send(
      new InvokeCommand({ FunctionName: functionName, InvocationType: 'Event', Payload: new TextEncoder().encode(JSON.stringify(event)) }),
    );
    // An accepted asynchronous invocation answers 202.
    if (out.StatusCode !== 202) throw new Error(`continuing ${functionName} failed: Invoke answered ${out.StatusCode}`);
  }
}

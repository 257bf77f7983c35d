/**
 * Publishes notifications to the alert topic: MessageStructure json (text for email, structured JSON for
 * lambda/https/sqs) with message attributes subscriptions filter on. With a Chatbot topic, the same
 * notification also goes there in AWS Chatbot's custom notification schema.
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { Notification } from '../../core/alerts/model';
import type { Notifier } from '../../core/alerts/ports';
import { chatbotNotification, snsPublishInput } from '../../core/alerts/render';

export interface SnsNotifierOptions {
  /** Topic AWS Chatbot is subscribed to. @default - no Chatbot message */
  readonly chatbotTopicArn?: string;
}

export class SnsNotifier implements Notifier {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
    private readonly options: SnsNotifierOptions = {},
  ) {}

  async send(n: Notification): Promise<void> {
    // Chatbot first: if the main publish then fails, the retry duplicates a chat line, not an email or page.
    if (this.options.chatbotTopicArn) {
      await this.client.send(
        new PublishCommand({ TopicArn: this.options.chatbotTopicArn, Message: JSON.stringify(chatbotNotification(n)) }),
      );
    }
    await this.client.send(new PublishCommand({ ...snsPublishInput(n, this.topicArn) }));
  }
}

import type { EmulatorCore } from './core.ts';
import type { Route, RouteContext } from './router.ts';

/** The interaction callback and the interaction webhook (follow-ups, @original). No bot token needed. */
export function interactionRoutes(core: EmulatorCore): Route[] {
  const { interactions, renderer, messages } = core;
  const webhook = (ctx: RouteContext) => interactions.webhook(ctx.params.webhook_id, ctx.params.webhook_token);

  return [
    {
      method: 'POST',
      pattern: '/interactions/:interaction_id/:interaction_token/callback',
      auth: 'none',
      handle: (ctx) =>
        interactions.callback(ctx.params.interaction_id, ctx.params.interaction_token, ctx.body, ctx.files, ctx.query.get('with_response') === 'true'),
    },
    {
      method: 'POST',
      pattern: '/webhooks/:webhook_id/:webhook_token',
      auth: 'none',
      handle: (ctx) => {
        const message = interactions.followUp(webhook(ctx), ctx.body, ctx.files);
        return ctx.query.get('wait') === 'true' ? { status: 200, body: renderer.message(message) } : { status: 204 };
      },
    },
    {
      method: 'GET',
      pattern: '/webhooks/:webhook_id/:webhook_token/messages/:message_id',
      auth: 'none',
      handle: (ctx) => ({ status: 200, body: renderer.message(interactions.webhookMessage(webhook(ctx), ctx.params.message_id)) }),
    },
    {
      method: 'PATCH',
      pattern: '/webhooks/:webhook_id/:webhook_token/messages/:message_id',
      auth: 'none',
      handle: (ctx) => {
        const message = interactions.editWebhookMessage(webhook(ctx), ctx.params.message_id, ctx.body, ctx.files);
        return { status: 200, body: renderer.message(message) };
      },
    },
    {
      method: 'DELETE',
      pattern: '/webhooks/:webhook_id/:webhook_token/messages/:message_id',
      auth: 'none',
      handle: (ctx) => {
        messages.delete(interactions.webhookMessage(webhook(ctx), ctx.params.message_id));
        return { status: 204 };
      },
    },
  ];
}

import type { Message } from 'discord.js';

/** Every custom id on a message's components, at any depth (rows, containers, sections' accessories). */
export function componentIdsOn(message: Message): string[] {
  const ids: string[] = [];
  const visit = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const o = node as { custom_id?: unknown; components?: unknown[]; accessory?: unknown; component?: unknown };
    if (typeof o.custom_id === 'string') ids.push(o.custom_id);
    o.components?.forEach(visit);
    visit(o.accessory);
    visit(o.component);
  };
  for (const component of message.components) visit(component.toJSON());
  return ids;
}

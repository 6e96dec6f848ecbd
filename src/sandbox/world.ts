/** The sandbox's one server: fixed ids so links and the store stay valid across restarts. */
export const SANDBOX_TOKEN = 'sandbox.local-bot-token.not-a-secret';
export const SANDBOX_APP_ID = '1500000000000000001';
export const SANDBOX_GUILD = { id: '1500000000000000010', name: 'Sandbox' };
export const SANDBOX_CHANNELS = [
  { id: '1500000000000000011', name: 'general' },
  { id: '1500000000000000012', name: 'pets' },
];
/** Manage Server, so /settings can be tried from the page. */
const MANAGE_GUILD = 1n << 5n;
export const SANDBOX_MEMBERS = [
  { id: '1500000000000000021', username: 'alice', permissions: MANAGE_GUILD },
  { id: '1500000000000000022', username: 'bob' },
  { id: '1500000000000000023', username: 'carol' },
];

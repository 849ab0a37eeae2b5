// The Anthropic TypeScript SDK's tool runner (`client.beta.messages.toolRunner`, message
// threads on by default) through sluice to every provider kind of the demo: a two-tool loop
// with default settings, one tool defined with zod and one with a JSON schema. Run by
// scripts/test:
//
//     node tests/sdk/ts/toolrunner.mjs http://127.0.0.1:18080
import Anthropic from '@anthropic-ai/sdk';
import { betaZodTool } from '@anthropic-ai/sdk/helpers/beta/zod';
import { betaTool } from '@anthropic-ai/sdk/helpers/beta/json-schema';
import { z } from 'zod';
import assert from 'node:assert/strict';

const baseURL = process.argv[2];
const calls = [];
const weather = betaZodTool({
  name: 'get_weather',
  description: 'Get the weather in a city.',
  inputSchema: z.object({ city: z.string() }),
  run: async ({ city }) => {
    calls.push(['weather', city]);
    return `sunny in ${city}`;
  },
});
const time = betaTool({
  name: 'get_time',
  description: 'Get the local time in a city.',
  inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  run: async ({ city }) => {
    calls.push(['time', city]);
    return `noon in ${city}`;
  },
});

const client = new Anthropic({ baseURL, apiKey: 'sk-sluice-demo', maxRetries: 0 });
for (const model of ['claude-sonnet', 'fast', 'gemini-flash', 'azure-gpt-4o']) {
  calls.length = 0;
  const runner = client.beta.messages.toolRunner({
    model,
    max_tokens: 300,
    tools: [weather, time],
    messages: [{ role: 'user', content: 'What is the weather and the time in Oslo?' }],
  });
  const replies = [];
  for await (const message of runner) replies.push(message);
  assert.deepEqual(calls, [['weather', 'Oslo'], ['time', 'Oslo']], model);
  const last = replies.at(-1);
  assert.equal(last.stop_reason, 'end_turn', model);
  const text = last.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
  assert.ok(text.includes('sunny in Oslo') && text.includes('noon in Oslo'), `${model}: ${text}`);
  console.log(`tool runner ok: ${model} (${replies.length} turns)`);
}

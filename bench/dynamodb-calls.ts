/**
 * `npx tsx bench/dynamodb-calls.ts`: the DynamoDB calls each OTP route makes, counted by a middleware
 * on the harness's DynamoDB client (the one every adapter uses), with the command names in order.
 * Counts, not timings, so it runs anywhere; printed as JSON.
 */
import { startTestService, testPhone } from '../service/testing/harness.js';

process.env.AWS_EC2_METADATA_DISABLED = 'true';
const service = await startTestService();
const calls: string[] = [];
service.emulators.dynamo.middlewareStack.add(
  (next, context) => async (args) => {
    calls.push(String(context.commandName).replace(/Command$/, ''));
    return next(args);
  },
  { step: 'initialize', name: 'countDynamoCalls' },
);

async function measure(label: string, action: () => Promise<{ status: number }>) {
  calls.length = 0;
  const { status } = await action();
  return { label, status, count: calls.length, calls: [...calls] };
}

const phone = testPhone();
const ip = '10.55.0.1';
const results = [];
results.push(await measure('send-otp, first in every window', () => service.call('sendOtp', { body: { phone }, ip })));
const code = service.outbox.latest(phone)!.code;
const wrong = code === '000000' ? '111111' : '000000';
results.push(await measure('verify-otp, wrong code', () => service.call('verifyOtp', { body: { phone, code: wrong }, ip })));
results.push(await measure('verify-otp, right code, new user', () => service.call('verifyOtp', { body: { phone, code }, ip })));
service.clock.advance(31_000);
results.push(await measure('send-otp, windows open', () => service.call('sendOtp', { body: { phone }, ip })));
const again = service.outbox.latest(phone)!.code;
results.push(await measure('verify-otp, right code, known user', () => service.call('verifyOtp', { body: { phone, code: again }, ip })));
results.push(await measure('verify-otp, no pending code', () => service.call('verifyOtp', { body: { phone, code: again }, ip })));
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
await service.close();

// eventcart's raw JSON contract from Node.js, with kafkajs (README: "From any other language").
//
// Sends, for each SKU it is given, a RegisterProduct, a ChangePrice and an AdjustStock
// command to the commands topic (key = the SKU, kafkajs' DefaultPartitioner: Java's murmur2,
// so every command lands in its SKU's partition), then reads the answers on the results
// topic (read committed: kafkajs' default) until every command has one, and the events
// of those SKUs from the events topic. Prints one JSON line per answer and per event;
// exits 1 when an answer is missing or not accepted within the time limit.
//
//   EVENTCART_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 node example.js NODE-1 NODE-2
'use strict';

const crypto = require('crypto');
const { Kafka, Partitioners, logLevel } = require('kafkajs');

const prefix = process.env.EVENTCART_TOPIC_PREFIX || 'eventcart';
const topics = {
  commands: `${prefix}.catalog.commands`,
  results: `${prefix}.catalog.command-results`,
  events: `${prefix}.product.events`,
};
const brokers = (process.env.EVENTCART_KAFKA_BOOTSTRAP_SERVERS || '127.0.0.1:9092').split(',');
const skus = process.argv.slice(2);
const limitMs = Number(process.env.EXAMPLE_TIMEOUT_MS || 60000);

function command(type, sku, data) {
  return {
    command_id: crypto.randomUUID(),
    type,
    schema_version: 1,
    sku,
    occurred_at: new Date().toISOString(), // RFC 3339, with the Z offset
    data, // money is a decimal string, never a number
  };
}

async function main() {
  if (skus.length === 0) throw new Error('give the SKUs to create');
  const kafka = new Kafka({ clientId: 'eventcart-node-example', brokers, logLevel: logLevel.WARN });
  // The DefaultPartitioner is murmur2, as Kafka's Java client: the one eventcart expects.
  // (Not the LegacyPartitioner kafkajs' start-up warning suggests: it sends most SKUs to
  // another partition, and the processor refuses them.)
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });
  const sent = [];
  for (const sku of skus) {
    sent.push(command('RegisterProduct', sku, { name: `Node kettle ${sku}`, brand: 'Acme' }));
    sent.push(command('ChangePrice', sku, { amount: '24.90', currency: 'EUR' }));
    sent.push(command('AdjustStock', sku, { delta: 7, reason: 'delivery' }));
  }
  const wanted = new Map(sent.map((c) => [c.command_id, c]));

  // The answers, read committed (kafkajs' default), matched by command_id: from the
  // start of the topic, so an answer that comes before this consumer has joined is not
  // missed (a long-running service would keep its group's committed offsets instead).
  const results = kafka.consumer({ groupId: `eventcart-node-example-${crypto.randomUUID()}` });
  await results.connect();
  await results.subscribe({ topic: topics.results, fromBeginning: true });
  const answers = new Map();
  const done = new Promise((resolve) => {
    results.run({
      eachMessage: async ({ message }) => {
        const answer = JSON.parse(message.value.toString('utf8'));
        if (wanted.has(answer.command_id) && !answers.has(answer.command_id)) {
          answers.set(answer.command_id, answer);
          console.log(JSON.stringify({ answer }));
          if (answers.size === wanted.size) resolve();
        }
      },
    });
  });
  await producer.connect();
  for (const c of sent) { // one SKU's commands in order, in its partition
    await producer.send({ topic: topics.commands, messages: [{ key: c.sku, value: JSON.stringify(c) }] });
  }
  await producer.disconnect();

  const timer = setTimeout(() => {
    console.error(`answers for ${answers.size} of ${wanted.size} commands within ${limitMs} ms`);
    process.exit(1);
  }, limitMs);
  await done;
  clearTimeout(timer);
  await results.disconnect();

  const refused = [...answers.values()].filter((a) => a.status !== 'accepted');
  if (refused.length) {
    console.error(`not accepted: ${JSON.stringify(refused)}`);
    process.exit(1);
  }

  // The events of these SKUs, from the beginning of the events topic (read committed).
  const events = kafka.consumer({ groupId: `eventcart-node-example-${crypto.randomUUID()}` });
  await events.connect();
  await events.subscribe({ topic: topics.events, fromBeginning: true });
  const seen = new Map(skus.map((s) => [s, 0]));
  await new Promise((resolve) => {
    events.run({
      eachMessage: async ({ message }) => {
        const event = JSON.parse(message.value.toString('utf8'));
        if (seen.has(event.sku)) {
          seen.set(event.sku, seen.get(event.sku) + 1);
          console.log(JSON.stringify({ event: { sku: event.sku, type: event.type, version: event.version } }));
          if ([...seen.values()].every((n) => n >= 3)) resolve();
        }
      },
    });
    setTimeout(resolve, limitMs);
  });
  await events.disconnect();
  if (![...seen.values()].every((n) => n === 3)) {
    console.error(`events per SKU: ${JSON.stringify([...seen])}`);
    process.exit(1);
  }
}

main().catch((err) => { console.error(err); process.exit(1); });

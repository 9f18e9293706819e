'use strict';
// ali-ons with accessKey/secretKey against a broker with aclEnable: a signed producer and consumer
// are served; a producer without credentials, or with a wrong secret, cannot send.
const { test } = require('node:test');
const assert = require('node:assert');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { Producer, Consumer, Message } = require('ali-ons');
const { startBroker, waitUntil } = require('../lib/broker');

const quiet = { info() {}, warn() {}, debug() {}, error() {} };
const httpclient = { request() { throw new Error('unused'); } };
const uid = prefix => `${prefix}_${crypto.randomBytes(4).toString('hex')}`;

test('signed ali-ons clients are served, unsigned ones refused', { timeout: 120000 }, async t => {
  const topic = uid('node_acl');
  const group = uid('node_acl_cg');
  const broker = await startBroker(dir => {
    fs.writeFileSync(path.join(dir, 'plain_acl.yml'), [
      'accounts:',
      '  - accessKey: nodeUser01',
      '    secretKey: node-secret-1',
      '    defaultTopicPerm: DENY',
      '    defaultGroupPerm: DENY',
      `    topicPerms: [${topic}=PUB|SUB]`,
      `    groupPerms: [${group}=SUB]`,
      '',
    ].join('\n'));
    fs.writeFileSync(path.join(dir, 'broker.conf'), 'aclEnable=true\naclFilePath=plain_acl.yml\n');
    return [ '--config', path.join(dir, 'broker.conf'), '--topic', `${topic}:2` ];
  });
  const creds = { accessKey: 'nodeUser01', secretKey: 'node-secret-1' };
  const producer = new Producer({ httpclient, nameSrv: broker.namesrv, producerGroup: uid('node_pg'), logger: quiet, ...creds });
  const consumer = new Consumer({ httpclient, nameSrv: broker.namesrv, consumerGroup: group, isBroadcast: false, logger: quiet, ...creds });
  const others = [];
  t.after(async () => {
    for (const c of [ consumer, producer, ...others ]) await c.close().catch(() => {});
    await broker.stop();
  });
  const errors = [];
  consumer.on('error', err => errors.push(String(err && err.message)));
  producer.on('error', err => errors.push(String(err && err.message)));
  await producer.ready();
  const received = [];
  consumer.subscribe(topic, '*', async msg => { received.push(msg.body.toString()); });
  await consumer.ready();
  const got = await waitUntil(async () => {
    if (received.length) return true;
    const res = await producer.send(new Message(topic, 'TagA', 'signed'));
    assert.strictEqual(res.sendStatus, 'SEND_OK');
    return false;
  }, 60000, 300);
  assert.ok(got, 'the signed consumer received nothing; client errors: ' + JSON.stringify(errors.slice(0, 5)) + '\n' + broker.tail());

  for (const bad of [ {}, { accessKey: 'nodeUser01', secretKey: 'wrong-secret' } ]) {
    // its own instanceName: ali-ons shares one client (and its credentials) per instance name
    const p = new Producer({ httpclient, nameSrv: broker.namesrv, producerGroup: uid('node_pg'), instanceName: uid('bad'), logger: quiet, ...bad });
    p.on('error', () => {});
    others.push(p);
    await p.ready();
    await assert.rejects(() => p.send(new Message(topic, 'TagA', 'refused')), 'an unsigned or wrongly signed send was accepted');
  }
  assert.match(broker.tail(), /request refused by ACL/);
});

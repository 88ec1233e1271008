"""The AMQP 0-9-1 client the fixtures and the end-to-end test run (python3-pika,
Debian's /usr/bin/python3):

    client.py PORT USER PASSWORD

One connection, one channel: queue.declare zt-q, two basic.publish to the
default exchange (routing key zt-q), basic.get (get-ok), basic.ack,
basic.get (get-ok, no-ack) then basic.get on the empty queue (get-empty),
a basic.consume of a third message (basic.deliver), and a publish to the
missing exchange zt-missing, which the broker answers with channel.close
404 NOT_FOUND; on a second channel a passive queue.declare of a missing
queue, answered by channel.close 404; a third channel deletes the queue and
the connection closes. Prints what it saw, one line each, for the caller to check."""
import sys

import pika

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
params = pika.ConnectionParameters("127.0.0.1", port, "/", pika.PlainCredentials(user, password),
                                   heartbeat=0)
conn = pika.BlockingConnection(params)
ch = conn.channel()
ch.queue_declare("zt-q")
ch.basic_publish(exchange="", routing_key="zt-q", body=b"hello one")
ch.basic_publish(exchange="", routing_key="zt-q", body=b"hello two")
m, props, body = ch.basic_get("zt-q")
print("get", body.decode())
ch.basic_ack(m.delivery_tag)
m, props, body = ch.basic_get("zt-q", auto_ack=True)
print("get", body.decode())
m, props, body = ch.basic_get("zt-q", auto_ack=True)
print("get-empty", m is None)
ch.basic_publish(exchange="", routing_key="zt-q", body=b"hello three")
got = []


def on_msg(c, method, properties, b):
    got.append(b.decode())
    c.basic_ack(method.delivery_tag)
    c.stop_consuming()


ch.basic_consume("zt-q", on_msg)
ch.start_consuming()
print("deliver", got[0])
ch.basic_publish(exchange="zt-missing", routing_key="nowhere", body=b"lost")
conn.sleep(0.5)  # the broker closes the channel: 404 NOT_FOUND
print("publish-closed", ch.is_closed)
ch2 = conn.channel()
try:
    ch2.queue_declare("zt-no-such-queue", passive=True)
    print("no-error")
except pika.exceptions.ChannelClosedByBroker as e:
    print("declare-closed", e.reply_code, e.reply_text)
ch3 = conn.channel()
ch3.queue_delete("zt-q")
conn.close()

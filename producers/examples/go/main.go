// eventcart's raw JSON contract from Go, with franz-go (README: "From any other language").
//
// Sends, for each SKU it is given, a RegisterProduct, a ChangePrice and an AdjustStock
// command to the commands topic (key = the SKU; franz-go's default partitioner hashes keys
// with Kafka's murmur2, so every command lands in its SKU's partition), then reads the
// answers on the results topic and the SKUs' events on the events topic, READ COMMITTED
// (franz-go reads uncommitted records unless told: it would see the answers of
// transactions a broker restart aborted). Prints one JSON line per answer and per event;
// exits 1 when an answer is missing or not accepted within the time limit.
//
//	EVENTCART_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 go run . GO-1 GO-2
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

type command struct {
	CommandID     string         `json:"command_id"`
	Type          string         `json:"type"`
	SchemaVersion int            `json:"schema_version"`
	SKU           string         `json:"sku"`
	OccurredAt    string         `json:"occurred_at"`
	Data          map[string]any `json:"data"`
}

func env(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func uuid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func newCommand(kind, sku string, data map[string]any) command {
	// RFC 3339 with an offset; money as a decimal string, never a number.
	return command{uuid(), kind, 1, sku, time.Now().UTC().Format(time.RFC3339Nano), data}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	prefix := env("EVENTCART_TOPIC_PREFIX", "eventcart")
	commands, results, events := prefix+".catalog.commands", prefix+".catalog.command-results", prefix+".product.events"
	brokers := strings.Split(env("EVENTCART_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"), ",")
	skus := os.Args[1:]
	if len(skus) == 0 {
		fail("give the SKUs to create")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var sent []command
	for _, sku := range skus {
		sent = append(sent,
			newCommand("RegisterProduct", sku, map[string]any{"name": "Go kettle " + sku, "brand": "Acme"}),
			newCommand("ChangePrice", sku, map[string]any{"amount": "31.50", "currency": "EUR"}),
			newCommand("AdjustStock", sku, map[string]any{"delta": 4, "reason": "delivery"}))
	}
	wanted := map[string]bool{}
	for _, c := range sent {
		wanted[c.CommandID] = true
	}

	// The results, read committed, matched by command_id: from the start of the topic,
	// so an answer that comes before this reader has positioned itself is not missed
	// (a long-running service would remember where it stopped instead).
	reader, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(results),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		fail("results consumer: %v", err)
	}
	defer reader.Close()

	// The default partitioner hashes the key with murmur2, as Kafka's Java client does.
	writer, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		fail("producer: %v", err)
	}
	for _, c := range sent {
		value, _ := json.Marshal(c)
		record := &kgo.Record{Topic: commands, Key: []byte(c.SKU), Value: value}
		if err := writer.ProduceSync(ctx, record).FirstErr(); err != nil {
			fail("produce: %v", err)
		}
	}
	writer.Close()

	answers := map[string]map[string]any{}
	for len(answers) < len(wanted) {
		fetches := reader.PollFetches(ctx)
		if ctx.Err() != nil {
			fail("answers for %d of %d commands within the time limit", len(answers), len(wanted))
		}
		fetches.EachRecord(func(r *kgo.Record) {
			var answer map[string]any
			if json.Unmarshal(r.Value, &answer) != nil {
				return
			}
			id, _ := answer["command_id"].(string)
			if wanted[id] && answers[id] == nil {
				answers[id] = answer
				line, _ := json.Marshal(map[string]any{"answer": answer})
				fmt.Println(string(line))
			}
		})
	}
	for _, answer := range answers {
		if answer["status"] != "accepted" {
			fail("not accepted: %v", answer)
		}
	}

	// The events of these SKUs from the beginning, read committed.
	eventsReader, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(events),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		fail("events consumer: %v", err)
	}
	defer eventsReader.Close()
	seen := map[string]int{}
	for _, sku := range skus {
		seen[sku] = 0
	}
	complete := func() bool {
		for _, n := range seen {
			if n < 3 {
				return false
			}
		}
		return true
	}
	for !complete() {
		fetches := eventsReader.PollFetches(ctx)
		if ctx.Err() != nil {
			fail("events per SKU: %v", seen)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			var event map[string]any
			if json.Unmarshal(r.Value, &event) != nil {
				return
			}
			sku, _ := event["sku"].(string)
			if _, ok := seen[sku]; ok {
				seen[sku]++
				line, _ := json.Marshal(map[string]any{"event": map[string]any{
					"sku": sku, "type": event["type"], "version": event["version"]}})
				fmt.Println(string(line))
			}
		})
	}
}

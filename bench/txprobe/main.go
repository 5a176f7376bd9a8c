// Command txprobe measures how DynamoDB Local's TransactWriteItems time grows with the items in
// each transaction and with concurrency on shared items (docs/design-usage.md, section 10): it
// sends 300 concurrent transactions of each shape, round after round, and prints the wall time
// of every round after the first two (which warm the JVM).
//
//	scripts/with-dynamodb.sh go run ./bench/txprobe
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
)

func main() {
	endpoint := flag.String("endpoint", os.Getenv("DYNAMODB_ENDPOINT"), "DynamoDB Local address (default $DYNAMODB_ENDPOINT)")
	n := flag.Int("n", 300, "concurrent transactions per round")
	rounds := flag.Int("rounds", 6, "rounds of every shape (the first two are not reported)")
	flag.Parse()
	if err := run(context.Background(), *endpoint, *n, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "txprobe:", err)
		os.Exit(1)
	}
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int) types.AttributeValue    { return &types.AttributeValueMemberN{Value: strconv.Itoa(v)} }

// shape builds the items of transaction i of a round whose keys begin with prefix.
type shape struct {
	name  string
	items func(prefix string, i int) []types.TransactWriteItem
}

func run(ctx context.Context, endpoint string, n, rounds int) error {
	if endpoint == "" {
		return fmt.Errorf("no endpoint: set DYNAMODB_ENDPOINT or -endpoint")
	}
	db, err := ddbkit.NewClient(ctx, endpoint)
	if err != nil {
		return err
	}
	table := fmt.Sprintf("txprobe_%d", time.Now().UnixNano())
	if err := ddbstore.CreateTableWithoutStream(ctx, db, table); err != nil {
		return err
	}
	defer db.DeleteTable(context.WithoutCancel(ctx), &dynamodb.DeleteTableInput{TableName: &table})
	put := func(pk, sk string) types.TransactWriteItem {
		return types.TransactWriteItem{Put: &types.Put{TableName: &table, Item: map[string]types.AttributeValue{
			"PK": str(pk), "SK": str(sk), "a": str(strings.Repeat("x", 36)), "b": num(12345), "c": str(strings.Repeat("y", 19))},
			ConditionExpression: aws.String("attribute_not_exists(PK)")}}
	}
	// add is a ledger shard's addition: counters added to, condition on the window.
	add := func(pk, sk string) types.TransactWriteItem {
		return types.TransactWriteItem{Update: &types.Update{TableName: &table, Key: map[string]types.AttributeValue{"PK": str(pk), "SK": str(sk)},
			UpdateExpression:          aws.String("ADD oc :one, ss :t, v :one SET w = :w"),
			ConditionExpression:       aws.String("attribute_not_exists(PK) OR w = :w"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":t": num(1796592468), ":w": num(5)}}}
	}
	// ledger is a ledger shard's addition as the start writes it (limit attributes, the
	// counters added to, TTL removed, condition on the window or absence).
	ledger := func(pk, sk string, header bool, due int) types.TransactWriteItem {
		names := map[string]string{"#0": "PK", "#1": "window_start_ms", "#2": "closed_ms", "#3": "open_count", "#4": "open_since_sum_ms", "#5": "version", "#6": "TTL"}
		values := map[string]types.AttributeValue{":0": num(1796083200), ":1": num(0), ":2": num(1), ":3": num(1796592468), ":4": num(1)}
		upd := "ADD #2 :1, #3 :2, #4 :3, #5 :4\nREMOVE #6\n"
		var sets []string
		if due > 0 {
			names["#14"], names["#15"] = "DueShard", "DueAt"
			values[":14"], values[":15"] = str("DUE#3"), num(due)
			sets = append(sets, "#14 = :14", "#15 = :15")
		}
		if header {
			for i, a := range []string{"budget", "limit_type", "limit_interval", "limit_hours", "limit_ms", "source_group_id", "updated_at_ms"} {
				names[fmt.Sprintf("#%d", 7+i)] = a
				values[fmt.Sprintf(":%d", 5+i)] = str("v" + a)
			}
			sets = append(sets, "#7 = :5, #8 = :6, #9 = :7, #10 = :8, #11 = :9, #12 = :10, #13 = :11")
		}
		upd += "SET " + strings.Join(append(sets, "#1 = :0"), ", ") + "\n"
		return types.TransactWriteItem{Update: &types.Update{TableName: &table, Key: map[string]types.AttributeValue{"PK": str(pk), "SK": str(sk)},
			UpdateExpression: &upd, ConditionExpression: aws.String("(attribute_not_exists (#0)) OR (#1 = :0)"),
			ExpressionAttributeNames: names, ExpressionAttributeValues: values,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}}
	}
	id := func(p string, i int) string { return p + strconv.Itoa(i) }
	puts := func(p string, i, k int) []types.TransactWriteItem {
		var out []types.TransactWriteItem
		for j := range k {
			out = append(out, put(id(p, i), strconv.Itoa(j)))
		}
		return out
	}
	shapes := []shape{
		{"4 Puts", func(p string, i int) []types.TransactWriteItem { return puts(p, i, 4) }},
		{"5 Puts", func(p string, i int) []types.TransactWriteItem { return puts(p, i, 5) }},
		{"6 Puts", func(p string, i int) []types.TransactWriteItem { return puts(p, i, 6) }},
		{"4 Puts + an addition to an item of its own", func(p string, i int) []types.TransactWriteItem {
			return append(puts(p, i, 4), add(id(p, i)+"L", "L"))
		}},
		{"4 Puts + an addition to one of 16 shared items", func(p string, i int) []types.TransactWriteItem {
			return append(puts(p, i, 4), add(p+"L", "L"+strconv.Itoa(i%16)))
		}},
		{"4 Puts + that addition + a Put", func(p string, i int) []types.TransactWriteItem {
			return append(puts(p, i, 4), add(p+"L", "L"+strconv.Itoa(i%16)), put(p+"M", "M"+strconv.Itoa(i)))
		}},
		{"4 Puts + a ledger shard's addition (of 16)", func(p string, i int) []types.TransactWriteItem {
			return append(puts(p, i, 4), ledger(p+"L", "L"+strconv.Itoa(i%16), true, 0))
		}},
		{"4 Puts + that addition without limit attributes", func(p string, i int) []types.TransactWriteItem {
			return append(puts(p, i, 4), ledger(p+"L", "L"+strconv.Itoa(i%16), false, 0))
		}},
		{"4 Puts + that addition moving the shard's DueAt", func(p string, i int) []types.TransactWriteItem {
			return append(puts(p, i, 4), ledger(p+"L", "L"+strconv.Itoa(i%16), true, 1796592468000-i))
		}},
	}
	took := make([][]time.Duration, len(shapes))
	for r := range rounds {
		for si, sh := range shapes {
			prefix := fmt.Sprintf("r%ds%d_", r, si)
			d, err := round(ctx, db, n, func(i int) []types.TransactWriteItem { return sh.items(prefix, i) })
			if err != nil {
				return fmt.Errorf("%s: %w", sh.name, err)
			}
			if r >= 2 {
				took[si] = append(took[si], d.Round(time.Millisecond))
			}
		}
	}
	fmt.Printf("%d concurrent TransactWriteItems per round; wall time of rounds 3 to %d:\n", n, rounds)
	for si, sh := range shapes {
		fmt.Printf("  %-48s %v\n", sh.name, took[si])
	}
	return nil
}

// round sends n transactions at once and returns when all have committed.
func round(ctx context.Context, db *dynamodb.Client, n int, items func(i int) []types.TransactWriteItem) (time.Duration, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	t0 := time.Now()
	for i := range n {
		wg.Go(func() {
			if _, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items(i)}); err != nil {
				mu.Lock()
				first = firstErr(first, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return time.Since(t0), first
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

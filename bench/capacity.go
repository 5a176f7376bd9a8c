package main

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// capacityMeter asks DynamoDB Local for the write capacity of every write a client sends
// (ReturnConsumedCapacity INDEXES: the table's units and each index's) and adds it up. For
// single-item writes DynamoDB Local charges index writes as AWS documents them (a write that
// moves an index key costs that index 2 units: delete and put). It charges a
// TransactWriteItems a flat 4 units whatever its items, so a transaction is costed from its
// items instead (2 units per started KB of each item put, 2 per item updated or deleted, the
// items of this table being under 1 KB) and counted apart.
type capacityMeter struct {
	mu  sync.Mutex
	cur capacity
}

// capacity is a snapshot of a capacityMeter, or the difference of two.
type capacity struct {
	Writes       int64              `json:"writes"`
	TableUnits   float64            `json:"table_units"`
	IndexUnits   map[string]float64 `json:"index_units"`
	Transactions int64              `json:"transactions"`
	TxUnits      float64            `json:"transaction_units_from_item_sizes"`
}

// Total is every write unit: table, indexes and transactions.
func (c capacity) Total() float64 {
	t := c.TableUnits + c.TxUnits
	for _, u := range c.IndexUnits {
		t += u
	}
	return t
}

func (m *capacityMeter) snapshot() capacity {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.cur
	out.IndexUnits = map[string]float64{}
	for k, v := range m.cur.IndexUnits {
		out.IndexUnits[k] = v
	}
	return out
}

// since is what was consumed after before.
func (m *capacityMeter) since(before capacity) capacity {
	now := m.snapshot()
	d := capacity{
		Writes: now.Writes - before.Writes, TableUnits: now.TableUnits - before.TableUnits,
		Transactions: now.Transactions - before.Transactions, TxUnits: now.TxUnits - before.TxUnits,
		IndexUnits: map[string]float64{},
	}
	for k, v := range now.IndexUnits {
		if v -= before.IndexUnits[k]; v != 0 {
			d.IndexUnits[k] = v
		}
	}
	return d
}

func (m *capacityMeter) addConsumed(cc *ddbtypes.ConsumedCapacity) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cur.Writes++
	if cc == nil {
		return
	}
	if cc.Table != nil && cc.Table.CapacityUnits != nil {
		m.cur.TableUnits += *cc.Table.CapacityUnits
	} else if cc.CapacityUnits != nil && len(cc.GlobalSecondaryIndexes) == 0 {
		m.cur.TableUnits += *cc.CapacityUnits
	}
	for name, ix := range cc.GlobalSecondaryIndexes {
		if ix.CapacityUnits != nil {
			if m.cur.IndexUnits == nil {
				m.cur.IndexUnits = map[string]float64{}
			}
			m.cur.IndexUnits[name] += *ix.CapacityUnits
		}
	}
}

func (m *capacityMeter) addTransaction(in *dynamodb.TransactWriteItemsInput) {
	units := 0.0
	for _, it := range in.TransactItems {
		switch {
		case it.Put != nil:
			units += 2 * float64((itemSize(it.Put.Item)+1023)/1024)
		case it.Update != nil, it.Delete != nil:
			units += 2
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cur.Writes++
	m.cur.Transactions++
	m.cur.TxUnits += units
}

// middleware asks for the consumed capacity of each write and records it.
func (m *capacityMeter) middleware(s *middleware.Stack) error {
	return s.Initialize.Add(middleware.InitializeMiddlewareFunc("benchCapacity",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			const idx = ddbtypes.ReturnConsumedCapacityIndexes
			switch p := in.Parameters.(type) {
			case *dynamodb.UpdateItemInput:
				p.ReturnConsumedCapacity = idx
			case *dynamodb.PutItemInput:
				p.ReturnConsumedCapacity = idx
			case *dynamodb.DeleteItemInput:
				p.ReturnConsumedCapacity = idx
			case *dynamodb.BatchWriteItemInput:
				p.ReturnConsumedCapacity = idx
			case *dynamodb.TransactWriteItemsInput:
				out, md, err := next.HandleInitialize(ctx, in)
				if err == nil {
					m.addTransaction(p)
				}
				return out, md, err
			}
			out, md, err := next.HandleInitialize(ctx, in)
			switch r := out.Result.(type) {
			case *dynamodb.UpdateItemOutput:
				m.addConsumed(r.ConsumedCapacity)
			case *dynamodb.PutItemOutput:
				m.addConsumed(r.ConsumedCapacity)
			case *dynamodb.DeleteItemOutput:
				m.addConsumed(r.ConsumedCapacity)
			case *dynamodb.BatchWriteItemOutput:
				for _, cc := range r.ConsumedCapacity {
					m.addConsumed(&cc)
				}
			}
			return out, md, err
		}), middleware.Before)
}

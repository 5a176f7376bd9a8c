package ddbstore

// LedgerShardOf is the shard of budget's ledger that a session of that budget is charged to
// (docs/design-usage.md, section 10).
func LedgerShardOf(budget, sessionID string) int { return ledgerShardOf(budget, sessionID) }

package metrics

import "github.com/sluicehq/sluice/internal/promhist"

// DurationBuckets are the classic buckets of the latency histograms, in
// seconds, the same as the gateway's (middleware.DurationBuckets).
var DurationBuckets = promhist.Durations

// BudgetBuckets are the classic buckets of the budget histograms, in
// seconds, the same as the gateway's (middleware.BudgetBuckets).
var BudgetBuckets = promhist.Budgets

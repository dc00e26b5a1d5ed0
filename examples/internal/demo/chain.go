package demo

// ChainRequest is the request every service of the orders → inventory →
// pricing chain takes.
type ChainRequest struct {
	// Item is what is being ordered.
	Item string `json:"item"`
	// Slow, a duration such as 500ms, makes pricing take that long.
	Slow string `json:"slow,omitempty"`
}

// ChainResponse is the answer of every service of the chain: the price, and
// the budget each hop received, from the first hop to the last.
type ChainResponse struct {
	Item    string   `json:"item"`
	InStock bool     `json:"in_stock"`
	Price   float64  `json:"price"`
	Budgets []Budget `json:"budgets"`
}

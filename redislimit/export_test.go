package redislimit

// SetWarmTried has s tell f of each of Warm's failed tries.
func SetWarmTried(s *Store, f func(error)) { s.warmTried = f }

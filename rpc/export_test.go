package rpc

// DecodeDetail is decodeDetail, for the decoding fuzz test's reference.
var DecodeDetail = decodeDetail

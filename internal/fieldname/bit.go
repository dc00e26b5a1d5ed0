package fieldname

// Bit is name's bit in a set of the names a parser has stored in a header
// map (a uint64, empty names excluded): names with different bits differ.
// A parser that finds a name's bit clear stores the name without looking it
// up first, where a lookup of every name, to append a repeated one's value,
// costs as much as the store; most heads repeat no name, and a bit shared
// by two different names costs only that lookup.
func Bit(name string) uint64 {
	return 1 << ((uint(len(name))*7 + uint(name[0]) + 3*uint(name[len(name)-1])) & 63)
}

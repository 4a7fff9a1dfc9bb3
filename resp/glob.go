package resp

// Match reports whether name matches the Redis glob pattern, with the rules
// of PSUBSCRIBE (Redis' stringmatchlen, case-sensitive, byte-wise): '*'
// matches any sequence of bytes, including none; '?' exactly one byte;
// "[abc]" one byte from the set and "[^abc]" one byte not in it; "[a-z]" a
// range (reversed bounds such as "[z-a]" are swapped); a backslash makes
// the next byte literal, also inside a set.
//
// A set runs to the first unescaped ']' after its first member position, so
// "[]" is an empty set; an unterminated set runs to the end of the pattern.
// A '-' is a range only when a byte follows it, so "[-+]" is the set {-,+}.
// A trailing lone '\' matches a '\'.
//
// One deliberate difference: Redis never matches an empty name (not even
// with "*"); here "*" matches "". Sentinel channel names are never empty.
func Match(pattern, name string) bool {
	p, s := 0, 0
	// Where to resume after the most recent '*': the pattern index just
	// after it and the name index it currently absorbs up to.
	star, starS := -1, 0
	for s < len(name) {
		if p < len(pattern) {
			switch ch := pattern[p]; ch {
			case '*':
				star, starS = p, s
				p++
				continue
			case '?':
				p++
				s++
				continue
			case '[':
				if ok, next := matchSet(pattern, p+1, name[s]); ok {
					p = next
					s++
					continue
				}
			case '\\':
				lit, next := byte('\\'), p+1
				if p+1 < len(pattern) {
					lit, next = pattern[p+1], p+2
				}
				if lit == name[s] {
					p = next
					s++
					continue
				}
			default:
				if ch == name[s] {
					p++
					s++
					continue
				}
			}
		}
		// Mismatch: let the last '*' absorb one more byte and retry.
		// Every other token consumes exactly one byte, so backtracking to
		// the latest star is enough (the classic greedy glob argument).
		if star < 0 {
			return false
		}
		starS++
		p, s = star+1, starS
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchSet evaluates the set starting at pattern[i] (just after '[')
// against ch. It returns whether ch is accepted and the index just after
// the set's closing ']' (or len(pattern) when unterminated).
func matchSet(pattern string, i int, ch byte) (bool, int) {
	not := false
	if i < len(pattern) && pattern[i] == '^' {
		not = true
		i++
	}
	match := false
	for i < len(pattern) {
		c := pattern[i]
		switch {
		case c == '\\' && i+1 < len(pattern):
			if pattern[i+1] == ch {
				match = true
			}
			i += 2
			continue
		case c == ']':
			return match != not, i + 1
		case i+2 < len(pattern) && pattern[i+1] == '-':
			lo, hi := c, pattern[i+2]
			if lo > hi {
				lo, hi = hi, lo
			}
			if ch >= lo && ch <= hi {
				match = true
			}
			i += 3
			continue
		default:
			if c == ch {
				match = true
			}
			i++
		}
	}
	return match != not, i
}

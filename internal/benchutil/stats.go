package benchutil

import "slices"

// Number is what [Median] takes: integers (time.Duration among them) and
// floats.
type Number interface {
	~int | ~int64 | ~float64
}

// Median of xs: the middle value for an odd count, the mean of the two
// middle values for an even count (truncated for integers), 0 when xs is
// empty. xs is not modified.
func Median[T Number](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

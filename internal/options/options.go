// Package options holds the two steps every component's Options share:
// filling zero values from the component's DefaultOptions, and refusing
// negative ones by name in its Validate.
package options

import "fmt"

// Number is an option that is a count or a duration.
type Number interface{ ~int | ~int64 }

// Default sets *v to d when *v is zero or negative.
func Default[T Number](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Field is a named option's value.
type Field[T Number] struct {
	Name  string
	Value T
}

// F returns the Field name, v.
func F[T Number](name string, v T) Field[T] { return Field[T]{name, v} }

// NonNegative returns "<pkg>: Options.<name> must not be negative, got
// <value>" for the first negative field, nil if there is none.
func NonNegative[T Number](pkg string, fields ...Field[T]) error {
	for _, f := range fields {
		if f.Value < 0 {
			return fmt.Errorf("%s: Options.%s must not be negative, got %v", pkg, f.Name, f.Value)
		}
	}
	return nil
}

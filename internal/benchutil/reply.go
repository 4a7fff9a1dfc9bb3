package benchutil

import "fmt"

// FieldMap turns a flat [key, value, ...] reply of [redisproc.Do] (SENTINEL
// MASTER, one entry of SENTINEL MASTERS) into a map; a value that is not a
// string reads "". A reply that is not an array of even length is an error.
func FieldMap(reply any) (map[string]string, error) {
	arr, ok := reply.([]any)
	if !ok || len(arr)%2 != 0 {
		return nil, fmt.Errorf("reply %T is not a flat key/value array", reply)
	}
	out := make(map[string]string, len(arr)/2)
	for i := 0; i < len(arr); i += 2 {
		k, _ := arr[i].(string)
		v, _ := arr[i+1].(string)
		out[k] = v
	}
	return out, nil
}

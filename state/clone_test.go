package state

import (
	"reflect"
	"testing"
	"time"
)

// fillAll sets every exported field reachable from v to a non-zero value:
// one entry per map, one element per slice, every pointer allocated. A
// field added to State (or to what it holds) is filled without this test
// changing.
func fillAll(t *testing.T, v reflect.Value, depth int) {
	if depth > 8 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fillAll(t, v.Elem(), depth+1)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Unix(1700000000, 0)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillAll(t, v.Field(i), depth+1)
			}
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		fillAll(t, k, depth+1)
		e := reflect.New(v.Type().Elem()).Elem()
		fillAll(t, e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fillAll(t, s.Index(0), depth+1)
		v.Set(s)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	case reflect.Interface, reflect.Func, reflect.Chan:
		t.Fatalf("State holds a %s (%s): Clone cannot copy it; extend this test", v.Kind(), v.Type())
	}
}

// sharesMemory reports the path of the first map, slice or pointer that a
// and b share (a clone must share none).
func sharesMemory(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		return sharesMemory(a.Elem(), b.Elem(), path)
	case reflect.Map:
		if a.IsNil() || b.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		for _, k := range a.MapKeys() {
			if p := sharesMemory(a.MapIndex(k), b.MapIndex(k), path+"["+k.String()+"]"); p != "" {
				return p
			}
		}
	case reflect.Slice:
		if a.Len() > 0 && b.Len() > 0 && a.Pointer() == b.Pointer() {
			return path
		}
		for i := range min(a.Len(), b.Len()) {
			if p := sharesMemory(a.Index(i), b.Index(i), path+"[i]"); p != "" {
				return p
			}
		}
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				if p := sharesMemory(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

// TestStateCloneDeep: Clone copies every field of the state (nothing is
// forgotten when a field is added) and shares no map, slice or pointer
// with the original, so a reader of the frozen state never sees the FSM
// change it.
func TestStateCloneDeep(t *testing.T) {
	st := NewState()
	fillAll(t, reflect.ValueOf(st).Elem(), 0)
	c := st.Clone()
	if !reflect.DeepEqual(st, c) {
		t.Fatalf("Clone lost a field:\n orig %+v\nclone %+v", st, c)
	}
	if p := sharesMemory(reflect.ValueOf(st), reflect.ValueOf(c), "State"); p != "" {
		t.Fatalf("Clone shares %s with the original", p)
	}
}

package batch

import "testing"

// FuzzRecords: the streaming record decoder, under a small limit, on any
// records section with any codec and record count. It never panics, every
// error is one of the package's (IsCorrupt), RecordTimes, NullKeys and
// Filter agree on whether the batch decodes, and what Filter keeps decodes
// again to the records it kept. Seeded with valid batches of every codec,
// bombs of every codec just over the limit, and lying lengths.
func FuzzRecords(f *testing.F) {
	const limit = 16 << 10
	records := keyed(strs("a", "-", "b", "c"), strs("1", "2", "-", "4"))
	for _, e := range encodings {
		f.Add(uint8(e.codec), int32(4), encode(f, e, 4, records)[HeaderSize:])
		if e.codec != 0 {
			f.Add(uint8(e.codec), int32(1), bomb(f, e, limit+1)[HeaderSize:])
			b := bomb(f, e, limit)
			h, _ := Parse(b)
			f.Add(uint8(e.codec), h.NumRecords, b[HeaderSize:])
		}
		f.Add(uint8(e.codec), int32(1), encode(f, e, 1, []byte{0xfe, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0})[HeaderSize:]) // 2 GiB record
		f.Add(uint8(e.codec), int32(1<<31-1), encode(f, e, 1, records)[HeaderSize:])
	}
	f.Add(uint8(1), int32(3), []byte{})
	f.Add(uint8(7), int32(1), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, codec uint8, n int32, section []byte) {
		raw := withHeader(int8(codec&7), n, section)
		count := 0
		errTimes := recordTimes(raw, limit, func(int64, int64) bool { count++; return true })
		_, _, errKeys := nullKeys(raw, limit, 3)
		keptOffsets, kept := map[int64]bool{}, 0 // offsets may repeat in a bad batch
		out, dropped, errFilter := filter(raw, limit, func(r Record) bool {
			if r.Offset%2 == 0 {
				keptOffsets[r.Offset] = true
				kept++
				return true
			}
			return false
		})
		for _, err := range []error{errTimes, errKeys, errFilter} {
			if err != nil && !IsCorrupt(err) {
				t.Fatalf("error %v is none of the package's", err)
			}
		}
		if (errTimes == nil) != (errKeys == nil) || (errTimes == nil) != (errFilter == nil) {
			t.Fatalf("disagree: RecordTimes %v, NullKeys %v, Filter %v", errTimes, errKeys, errFilter)
		}
		if errTimes == nil && int32(count) != n {
			t.Fatalf("%d records decoded of %d", count, n)
		}
		if errFilter != nil || !dropped || out == nil {
			return
		}
		again := 0
		if err := recordTimes(out, limit, func(o, _ int64) bool {
			if !keptOffsets[o] {
				t.Errorf("offset %d in the filtered batch was not kept", o)
			}
			again++
			return true
		}); err != nil {
			t.Fatalf("filtered batch does not decode: %v", err)
		}
		if again != kept {
			t.Fatalf("filtered batch holds %d records, %d kept", again, kept)
		}
	})
}

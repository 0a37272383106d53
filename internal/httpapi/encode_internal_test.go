package httpapi

import (
	"bytes"
	"fmt"
	"testing"
	"testing/iotest"
)

// readAll reads every byte whatever Content-Length announced: the right
// size, less, more, none, or more than it allocates ahead; also when the
// reader returns a byte at a time.
func TestReadAllReadsWhatIsSentNotWhatIsAnnounced(t *testing.T) {
	for _, size := range []int{0, 1, 511, 512, 513, 4096, maxPresized + 10} {
		body := bytes.Repeat([]byte("x"), size)
		for _, announced := range []int64{int64(size), int64(size) / 2, int64(size) * 2, -1, 0} {
			t.Run(fmt.Sprintf("%d bytes, %d announced", size, announced), func(t *testing.T) {
				got, err := readAll(bytes.NewReader(body), announced)
				if err != nil || !bytes.Equal(got, body) {
					t.Errorf("readAll = %d bytes, %v; want %d", len(got), err, size)
				}
				got, err = readAll(iotest.OneByteReader(bytes.NewReader(body)), announced)
				if err != nil || !bytes.Equal(got, body) {
					t.Errorf("readAll, a byte at a time = %d bytes, %v; want %d", len(got), err, size)
				}
			})
		}
	}
}

package wirecount

import "testing"

func TestCommandCounter(t *testing.T) {
	get := "*2\r\n$3\r\nGET\r\n$5\r\nk*1\r\n\r\n" // its key holds a * and a \r\n
	set := "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$11\r\n*2\r\n$3\r\nabc\r\n$2\r\nPX\r\n$7\r\n3600000\r\n"
	empty := "*2\r\n$3\r\nGET\r\n$0\r\n\r\n"
	tests := []struct {
		name   string
		stream string
		want   int
	}{
		{"one", get, 1},
		{"pipeline", get + set + get, 3},
		{"payload that looks like a command", set, 1},
		{"empty bulk string", empty + get, 2},
		{"no arguments", "*1\r\n$4\r\nPING\r\n" + get, 2},
	}
	for _, tt := range tests {
		// Every way of splitting the stream in two writes counts the same.
		for cut := range len(tt.stream) + 1 {
			var c commandCounter
			got := c.feed([]byte(tt.stream[:cut])) + c.feed([]byte(tt.stream[cut:]))
			if got != tt.want {
				t.Errorf("%s, cut at %d: %d commands, want %d", tt.name, cut, got, tt.want)
			}
		}
		// And so does one byte at a time.
		var c commandCounter
		got := 0
		for _, ch := range []byte(tt.stream) {
			got += c.feed([]byte{ch})
		}
		if got != tt.want || c.state != wantArray {
			t.Errorf("%s, byte by byte: %d commands, state %d; want %d, state %d", tt.name, got, c.state, tt.want, wantArray)
		}
	}
}

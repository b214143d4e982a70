// Package logx writes structured logs: one JSON object a line on stdout, which the runtime keeps per instance.
package logx

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	waLog "go.mau.fi/whatsmeow/util/log"
)

var levels = map[string]int{"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40}

// Logger is safe for concurrent use.
type Logger struct {
	out       io.Writer
	mu        *sync.Mutex
	threshold int
	context   []any
}

// New logs at `level` and above to stdout, with `context` (key, value, …) on every line.
func New(level string, context ...any) *Logger {
	return NewTo(os.Stdout, level, context...)
}

// NewTo is New with another destination (tests).
func NewTo(out io.Writer, level string, context ...any) *Logger {
	threshold, ok := levels[level]
	if !ok {
		threshold = levels["info"]
	}
	return &Logger{out: out, mu: &sync.Mutex{}, threshold: threshold, context: context}
}

// With returns a logger that adds `fields` to every line.
func (l *Logger) With(fields ...any) *Logger {
	child := *l
	child.context = append(append([]any{}, l.context...), fields...)
	return &child
}

func (l *Logger) write(level string, msg string, fields []any) {
	if levels[level] < l.threshold {
		return
	}
	record := map[string]any{
		"ts":    time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"level": level,
		"msg":   msg,
	}
	all := append(append([]any{}, l.context...), fields...)
	for i := 0; i+1 < len(all); i += 2 {
		key := fmt.Sprint(all[i])
		if key == "ts" || key == "level" || key == "msg" {
			continue
		}
		value := all[i+1]
		if err, ok := value.(error); ok {
			value = err.Error()
		}
		record[key] = value
	}
	line, err := json.Marshal(record)
	if err != nil {
		line = []byte(fmt.Sprintf(`{"level":%q,"msg":%q}`, level, msg))
	}
	l.mu.Lock()
	// A closed or full stdout must never take the worker down with it.
	_, _ = l.out.Write(append(line, '\n'))
	l.mu.Unlock()
}

func (l *Logger) Debug(msg string, fields ...any) { l.write("debug", msg, fields) }
func (l *Logger) Info(msg string, fields ...any)  { l.write("info", msg, fields) }
func (l *Logger) Warn(msg string, fields ...any)  { l.write("warning", msg, fields) }
func (l *Logger) Error(msg string, fields ...any) { l.write("error", msg, fields) }

// WhatsmeowLogger adapts the logger to whatsmeow's logging interface.
func (l *Logger) WhatsmeowLogger(module string) waLog.Logger { return &waAdapter{l: l, module: module} }

type waAdapter struct {
	l      *Logger
	module string
}

func (a *waAdapter) Warnf(msg string, args ...any) {
	a.l.write("warning", fmt.Sprintf(msg, args...), []any{"module", a.module})
}
func (a *waAdapter) Errorf(msg string, args ...any) {
	a.l.write("error", fmt.Sprintf(msg, args...), []any{"module", a.module})
}
func (a *waAdapter) Infof(msg string, args ...any) {
	a.l.write("info", fmt.Sprintf(msg, args...), []any{"module", a.module})
}
func (a *waAdapter) Debugf(msg string, args ...any) {
	if a.l.threshold > levels["debug"] {
		return // skip the formatting: whatsmeow logs every frame at debug level
	}
	a.l.write("debug", fmt.Sprintf(msg, args...), []any{"module", a.module})
}
func (a *waAdapter) Sub(module string) waLog.Logger {
	return &waAdapter{l: a.l, module: a.module + "/" + module}
}

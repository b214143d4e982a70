// Command whatsmeow-worker serves one WhatsApp number through whatsmeow and speaks worker protocol v1
// (docs/worker-protocol.md); it is configured entirely by its environment.
package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/whatsapp-gateway/providers/whatsmeow/internal/api"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/config"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/engine"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/gateway"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/logx"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/sink"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/spool"
)

const (
	provider        = "whatsmeow"
	workerVersion   = "1.0.0"
	protocolVersion = 1

	exitOK         = 0
	exitFailed     = 1
	exitSuperseded = 75 // EX_TEMPFAIL: a newer epoch owns the instance; the runtime must not restart this one
	exitConfig     = 78 // EX_CONFIG: restarting with the same environment cannot help

	// §9: exit within 15 s of SIGTERM or POST /v1/shutdown; the spool flush gets at most 10 s of it.
	stopBudget   = 14 * time.Second
	flushBudget  = 10 * time.Second
	engineBudget = 3 * time.Second
	dataDirWait  = 20 * time.Second
)

// providerVersion names the whatsmeow build too: its WhatsApp Web version goes stale within weeks.
func providerVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "go.mau.fi/whatsmeow" {
				return workerVersion + "+whatsmeow." + strings.TrimPrefix(dep.Version, "v")
			}
		}
	}
	return workerVersion
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck())
	}
	os.Exit(run())
}

// healthcheck is the image's HEALTHCHECK (FROM scratch has no curl): GET /v1/health on the port LISTEN names.
func healthcheck() int {
	_, port, err := net.SplitHostPort(os.Getenv("LISTEN"))
	if err != nil || port == "0" {
		return exitFailed
	}
	client := http.Client{Timeout: 2 * time.Second}
	response, err := client.Get("http://" + net.JoinHostPort("127.0.0.1", port) + "/v1/health")
	if err != nil {
		return exitFailed
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return exitFailed
	}
	return exitOK
}

func run() int {
	started := time.Now()
	cfg, err := config.FromProcess()
	if err != nil {
		logx.New("info").Error("invalid configuration", "error", err)
		return exitConfig
	}
	log := logx.New(cfg.LogLevel, "instance_id", cfg.InstanceID, "epoch", cfg.Epoch)
	lock, err := engine.DataDirLock(cfg.DataDir, dataDirWait)
	if err != nil {
		log.Error("DATA_DIR is in use by another worker", "data_dir", cfg.DataDir, "error", err)
		return exitFailed
	}
	defer lock.Close()

	superseded := make(chan struct{})
	gw := gateway.New(cfg.GatewayURL, cfg.InstanceID, cfg.Token, cfg.Epoch, "whatsapp-gateway-whatsmeow-worker/"+workerVersion,
		func() {
			log.Warn("epoch superseded: a newer worker owns this instance; stopping now")
			close(superseded)
		})
	events, err := spool.Open(filepath.Join(cfg.DataDir, "spool"), log.Warn)
	if err != nil {
		log.Error("cannot open the event spool", "error", err)
		return exitFailed
	}
	defer events.Close()
	sk := sink.New(events, gw, log)
	eng, err := engine.New(cfg, log, gw, sk)
	if err != nil {
		log.Error("cannot prepare the engine", "error", err)
		return exitFailed
	}

	stop := make(chan string, 1)
	requestStop := func(reason string) {
		select {
		case stop <- reason:
		default:
		}
	}
	identity := api.Identity{
		InstanceID: cfg.InstanceID, Epoch: cfg.Epoch, Provider: provider, ProviderVersion: providerVersion(),
		Protocol: protocolVersion, StartedAt: started,
	}
	listener, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Error("cannot listen", "listen", cfg.Listen, "error", err)
		return exitFailed
	}
	server := &http.Server{
		Handler:           api.New(identity, cfg.Token, eng, sk.Spooled, requestStop, log),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	go func() {
		if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "error", err)
			requestStop("http server failed")
		}
	}()
	listen := listener.Addr().String()
	log.Info("listening", "listen", listen, "spooled", sk.Spooled(), "version", identity.ProviderVersion)

	deliveryCtx, stopDelivery := context.WithCancel(context.Background())
	delivered := make(chan struct{})
	go func() {
		sk.Run(deliveryCtx)
		close(delivered)
	}()
	_ = sk.Emit("worker.ready", map[string]any{
		"listen": listen, "epoch": cfg.Epoch, "provider": provider, "provider_version": identity.ProviderVersion,
		"protocol": protocolVersion, "pid": os.Getpid(),
	})
	eng.Start()

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	var reason string
	select {
	case sig := <-signals:
		reason = sig.String()
	case reason = <-stop:
	case <-superseded:
	}
	if gw.Superseded() {
		return abort(eng, server, stopDelivery)
	}
	log.Info("shutting down", "reason", reason)
	deadline := time.Now().Add(stopBudget)
	// Graceful: keep serving status while the last events drain; the stored session stays valid.
	eng.Stop(engineBudget)
	if gw.Superseded() {
		return abort(eng, server, stopDelivery)
	}
	if !sk.Flush(min(flushBudget, time.Until(deadline)-time.Second)) {
		log.Warn("events left in the spool for the next worker", "spooled", sk.Spooled())
	}
	if gw.Superseded() {
		return abort(eng, server, stopDelivery)
	}
	stopDelivery()
	<-delivered
	ctx, cancel := context.WithTimeout(context.Background(), max(100*time.Millisecond, time.Until(deadline)))
	defer cancel()
	_ = server.Shutdown(ctx)
	gw.Close()
	log.Info("stopped", "reason", reason)
	return exitOK
}

// abort stops without reporting anything: a newer worker speaks for the instance now.
func abort(eng *engine.Engine, server *http.Server, stopDelivery context.CancelFunc) int {
	stopDelivery()
	eng.Abort()
	_ = server.Close()
	return exitSuperseded
}

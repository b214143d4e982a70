package config

import (
	"testing"
	"time"
)

func env(values map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) { v, ok := values[name]; return v, ok }
}

func base() map[string]string {
	return map[string]string{
		"INSTANCE_ID": "ins_1", "WORKER_EPOCH": "7", "WORKER_TOKEN": "t", "GATEWAY_URL": "http://127.0.0.1:3000/",
		"DATA_DIR": "/tmp/x", "LISTEN": "127.0.0.1:0",
	}
}

func TestFromEnv(t *testing.T) {
	values := base()
	values["PROVIDER_CONFIG"] = `{"reconnect_min_seconds": 0.5, "reconnect_max_seconds": 2, "device_name": "Acme"}`
	cfg, err := FromEnv(env(values))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Epoch != 7 || cfg.GatewayURL != "http://127.0.0.1:3000" || cfg.LogLevel != "info" {
		t.Fatalf("%+v", cfg)
	}
	p := cfg.Provider
	if p.ReconnectMin != 500*time.Millisecond || p.ReconnectMax != 2*time.Second || p.DeviceName != "Acme" ||
		p.SnapshotDebounce != DefaultProviderConfig().SnapshotDebounce {
		t.Fatalf("%+v", p)
	}
}

func TestFromEnvRefusals(t *testing.T) {
	cases := map[string]map[string]string{
		"missing token":     {"WORKER_TOKEN": ""},
		"epoch zero":        {"WORKER_EPOCH": "0"},
		"not a url":         {"GATEWAY_URL": "127.0.0.1:3000"},
		"bad listen":        {"LISTEN": "nowhere"},
		"config array":      {"PROVIDER_CONFIG": "[]"},
		"negative":          {"PROVIDER_CONFIG": `{"reconnect_max_seconds": -1}`},
		"max below min":     {"PROVIDER_CONFIG": `{"reconnect_min_seconds": 5, "reconnect_max_seconds": 1}`},
		"empty device name": {"PROVIDER_CONFIG": `{"device_name": ""}`},
		"unknown id mode":   {"PROVIDER_CONFIG": `{"message_id_mode": "random"}`},
	}
	for name, change := range cases {
		values := base()
		for k, v := range change {
			values[k] = v
		}
		if _, err := FromEnv(env(values)); err == nil || !IsConfigError(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

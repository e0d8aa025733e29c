// Publishing from a Go backend: mint a token with TOKEN_SECRET, publish with an Idempotency-Key,
// and retry the same request until the worker answers, so the event is stored exactly once
// whatever is lost on the way. The standard library only: a JWT is HMAC-SHA256 over two base64url
// JSON parts (golang-jwt does the same, and more).
//
//	ORGSTREAM_URL=http://127.0.0.1:8787 TOKEN_SECRET=... go run examples/backend/publish.go
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// mint signs a token for one subject of an org (each of your users gets one with scope "subscribe").
func mint(secret, org, sub, scope string) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{"org": org, "sub": sub, "scope": scope, "iat": now, "exp": now + 600})
	unsigned := header + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(unsigned))
	return unsigned + "." + enc.EncodeToString(mac.Sum(nil))
}

// publish sends body once: the same key on every attempt, until an answer comes.
func publish(url, token string, body []byte) ([]string, error) {
	key := make([]byte, 16)
	rand.Read(key)
	client := &http.Client{Timeout: 10 * time.Second}
	for attempt := 1; ; attempt++ {
		request, _ := http.NewRequest("POST", url+"/v1/events", bytes.NewReader(body))
		request.Header.Set("authorization", "Bearer "+token)
		request.Header.Set("content-type", "application/json")
		request.Header.Set("idempotency-key", fmt.Sprintf("%x", key))
		response, err := client.Do(request)
		if err == nil {
			var answer struct {
				Ids   []string                 `json:"ids"`
				Error struct{ Message string } `json:"error"`
			}
			json.NewDecoder(response.Body).Decode(&answer)
			response.Body.Close()
			if response.StatusCode < 300 {
				return answer.Ids, nil
			}
			if response.StatusCode < 500 && response.StatusCode != 429 {
				return nil, fmt.Errorf("refused: %s", answer.Error.Message)
			}
		}
		wait := time.Duration(250<<min(attempt, 7)) * time.Millisecond // up to 32 s
		time.Sleep(wait)
	}
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func main() {
	url := os.Getenv("ORGSTREAM_URL")
	if url == "" {
		url = "http://127.0.0.1:8787"
	}
	token := mint(os.Getenv("TOKEN_SECRET"), "dev", "billing-service", "publish")
	ids, err := publish(url, token, []byte(`{"type":"task.progress","data":{"taskId":"import-42","progress":0.5}}`))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("published " + strings.Join(ids, ", "))
}

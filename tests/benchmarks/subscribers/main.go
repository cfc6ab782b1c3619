// subscribers: many Server-Sent Events clients of eventcart's GET /changes, for the
// change-subscription benchmark. Standard library only.
//
// Each subscriber follows /changes?<its query>, reconnecting with Last-Event-ID when
// the stream drops, and notes when each change arrived (its "position" and the wall
// clock in nanoseconds). "ready" is printed on stdout once every subscriber has had
// its `event: ready`; closing stdin stops them all, and the arrivals are written to
// -out as lines "subscriber<TAB>position<TAB>unix_nanos".
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

type arrival struct {
	position string
	at       int64
}

func follow(ctx context.Context, client *http.Client, url string, ready func(), got *[]arrival) {
	last := ""
	readied := false
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		resp, err := client.Do(req)
		if err != nil {
			time.Sleep(300 * time.Millisecond)
			continue
		}
		if resp.StatusCode != 200 {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			time.Sleep(500 * time.Millisecond)
			continue
		}
		reader := bufio.NewReaderSize(resp.Body, 64*1024)
		name, id, data := "", "", ""
		for {
			line, err := reader.ReadString('\n')
			if err != nil {
				break
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "event: "):
				name = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			case line == "":
				if name == "ready" && !readied {
					readied = true
					ready()
				}
				if name == "" && data != "" {
					now := time.Now().UnixNano()
					start := strings.Index(data, `"position":"`)
					if start >= 0 {
						rest := data[start+12:]
						*got = append(*got, arrival{rest[:strings.IndexByte(rest, '"')], now})
					}
				}
				if id != "" {
					last = id
				}
				name, id, data = "", "", ""
			}
		}
		resp.Body.Close()
	}
}

func main() {
	base := flag.String("url", "", "the query API, e.g. http://127.0.0.1:8002")
	subs := flag.String("subs", "", "a JSON file: a list of query strings, one per subscriber")
	out := flag.String("out", "", "where the arrivals are written")
	flag.Parse()
	raw, err := os.ReadFile(*subs)
	if err != nil {
		panic(err)
	}
	var queries []string
	if err := json.Unmarshal(raw, &queries); err != nil {
		panic(err)
	}
	client := &http.Client{Transport: &http.Transport{
		MaxConnsPerHost: 0, MaxIdleConnsPerHost: len(queries), DisableCompression: true,
	}}
	ctx, cancel := context.WithCancel(context.Background())
	var readyGroup, done sync.WaitGroup
	readyGroup.Add(len(queries))
	got := make([][]arrival, len(queries))
	for i, query := range queries {
		done.Add(1)
		go func(i int, query string) {
			defer done.Done()
			follow(ctx, client, *base+"/changes?"+query, readyGroup.Done, &got[i])
		}(i, query)
	}
	readyGroup.Wait()
	fmt.Println("ready")
	io.ReadAll(os.Stdin)
	cancel()
	done.Wait()
	file, err := os.Create(*out)
	if err != nil {
		panic(err)
	}
	writer := bufio.NewWriter(file)
	for i, arrivals := range got {
		for _, a := range arrivals {
			fmt.Fprintf(writer, "%d\t%s\t%d\n", i, a.position, a.at)
		}
	}
	writer.Flush()
	file.Close()
}

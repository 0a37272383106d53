package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/pusher-hq/pusher/client"
)

// Create a subscription, then look at what has not arrived yet and replay
// the last day's events once the receiver is fixed.
func Example() {
	ctx := context.Background()
	c := client.New("http://localhost:8080", "TOKEN") // e.g. from pusher token

	id, err := client.NewSubscriptionUUID() // Zettle requires a version 1 UUID
	if err != nil {
		log.Fatal(err)
	}
	sub, err := c.CreateSubscription(ctx, client.CreateRequest{
		UUID:         id,
		EventNames:   []string{"PurchaseCreated"},
		Destination:  "https://shop.example/zettle",
		ContactEmail: "ops@shop.example",
	})
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		log.Fatalf("create: %s (%s, HTTP %d)", apiErr.DeveloperMessage, apiErr.ErrorType, apiErr.StatusCode)
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verify deliveries with", sub.SigningKey)

	for m, err := range c.AllMessages(ctx, sub.UUID, client.MessageFilter{State: client.StateFailing}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.MessageID, m.EventName, m.Attempts)
	}

	now := time.Now()
	res, err := c.Replay(ctx, sub.UUID, client.ReplayRequest{Since: now.Add(-24 * time.Hour), Until: now, DryRun: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("would replay", res.Count, "events")
}

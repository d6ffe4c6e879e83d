package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/scimtrail/scimtrail/export/kafka"
	"github.com/scimtrail/scimtrail/service"
)

// KafkaValue is the value of a record's Kafka message: the native record, or its OCSF event
// with tenant, seq, leaf hash and checkpoint alongside (as HEC sends it).
func KafkaValue(r Record, format string) ([]byte, error) {
	if format == service.FormatOCSF {
		o, err := ocsfRecord(r)
		if err != nil {
			return nil, err
		}
		return json.Marshal(o)
	}
	return json.Marshal(r)
}

// deliverKafka produces recs, keyed by tenant so that a tenant's records share a partition
// and keep their order, and counts those acknowledged by all in-sync replicas.
func (d *Dispatcher) deliverKafka(ctx context.Context, del Delivery, recs []Record) (int, error) {
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		v, err := KafkaValue(r, del.Config.Format)
		if err != nil {
			return 0, err
		}
		msgs[i] = kafka.Message{Key: []byte(r.Tenant), Value: v}
	}
	cfg := kafka.Config{Brokers: del.Config.Brokers, Topic: del.Config.Topic}
	if !d.opts.AllowPrivate {
		cfg.IsPublic = service.IsPublicAddr
	}
	if del.Config.TLS != nil {
		var err error
		if cfg.TLS, err = sinkTLS(del.Config.TLS, ""); err != nil {
			return 0, err
		}
	}
	if a := del.Config.SASL; a != nil {
		if len(del.Secrets) == 0 {
			return 0, errors.New("the sink has no SASL password")
		}
		if cfg.SASL = kafka.SASLMechanism(a.Mechanism, a.Username, del.Secrets[0].Value); cfg.SASL == nil {
			return 0, fmt.Errorf("unknown SASL mechanism %q", a.Mechanism)
		}
	}
	return kafka.Produce(ctx, cfg, msgs)
}

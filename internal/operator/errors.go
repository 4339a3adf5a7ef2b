package operator

import (
	"errors"
	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/store"
)

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
func isConflict(err error) bool { return errors.Is(err, store.ErrConflict) }

// pgxTx keeps the transaction type out of handler signatures.
type pgxTx = pgx.Tx

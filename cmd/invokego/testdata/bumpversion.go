//go:build ignore

// bumpversion marks a database as written by a future invokego, for the refusal test.
package main

import (
	"database/sql"
	"log"
	"os"

	_ "modernc.org/sqlite"
)

func main() {
	db, err := sql.Open("sqlite", os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO migrations (version) VALUES (9999)`); err != nil {
		log.Fatal(err)
	}
}

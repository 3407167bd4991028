//! The `crust` command line.
//!
//! Today it holds the key tools (everything an operator needs before a chain exists) and
//! explains honestly which commands have not landed yet.

use clap::{Parser, Subcommand};
use crust_primitives::AccountId;
use crust_primitives::account::{self, AccountError, Keypair, SS58_PREFIX, to_hex};
use crust_primitives::balance::Cru;
use crust_runtime::market::{self, MarketParams};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "crust",
    version,
    about = "Crust in Rust: a decentralized storage network"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local development network (not yet available).
    Devnet,
    /// Account keys: generate and inspect.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Price a storage order at the reference network's initial fees.
    Price {
        /// File size in bytes.
        size_bytes: u64,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Generate a new account: a BIP39 phrase, its public key and SS58 address.
    Generate {
        /// Words in the phrase: 12, 15, 18, 21 or 24.
        #[arg(long, default_value_t = 12)]
        words: usize,
    },
    /// Show the account of a secret URI (`phrase`, `//Alice`, `phrase//hard///password`,
    /// `0x<seed>`) or decode an SS58 address.
    Inspect {
        /// Secret URI or address.
        input: String,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Devnet => Err(
            "`crust devnet` is not yet available: the chain node (issue #4) and the \
             devnet (issue #8) have not landed. Run the tests with `cargo test --workspace`."
                .into(),
        ),
        Command::Key(KeyCommand::Generate { words }) => {
            let phrase = account::generate_phrase(words).map_err(|e| e.to_string())?;
            let pair = Keypair::from_phrase(&phrase, None).map_err(|e| e.to_string())?;
            println!("Secret phrase: {phrase}");
            print_account(&pair.public());
            println!("Keep the phrase secret and offline: anyone who has it controls the account.");
            Ok(())
        }
        Command::Key(KeyCommand::Inspect { input }) => {
            match account::ss58_decode(input.trim()) {
                Ok((prefix, key)) => {
                    println!(
                        "Network prefix: {prefix}{}",
                        if prefix == SS58_PREFIX {
                            " (Crust)"
                        } else {
                            ""
                        }
                    );
                    print_account(&AccountId(key));
                    return Ok(());
                }
                Err(AccountError::BadBase58) | Err(AccountError::BadLength { .. }) => {}
                Err(e) => return Err(e.to_string()),
            }
            let pair = Keypair::from_suri(&input).map_err(|e| e.to_string())?;
            print_account(&pair.public());
            Ok(())
        }
        Command::Price { size_bytes } => {
            let params = MarketParams::default();
            let (base, value) = market::file_fee(&params, size_bytes);
            println!("Order for {size_bytes} bytes at the reference network's initial fees:");
            println!("  base fee  {}", Cru(base));
            println!("  byte+keys {}", Cru(value));
            println!("  total     {}", Cru(base + value));
            println!(
                "  of which to replicas and the liquidator (18%): {}",
                Cru(market::pricing::STORAGE_RATIO.mul_nearest(value))
            );
            Ok(())
        }
    }
}

fn print_account(id: &AccountId) {
    println!("Public key (hex): 0x{}", to_hex(id.as_bytes()));
    println!("Account (SS58):   {id}");
}

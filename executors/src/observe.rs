//! Which balances a transaction observed, so the commit can treat the others as deltas.
//!
//! Many transactions read an account's balance only to change it: a deposit into WETH, a
//! payment to the block's beneficiary, a transfer to an exchange's wallet. Their outcome does
//! not depend on the balance they started from, so when another pool changed it first, the
//! commit shifts their write by the difference instead of re-executing them
//! ([`crate::commit`]). A balance is *observed*, and must validate exactly, when:
//! - `BALANCE` or `SELFBALANCE` pushed it onto the stack;
//! - `SELFDESTRUCT` moved all of it;
//! - a transfer out of the account (`CALL`, `CALLCODE`, `CREATE`, `CREATE2` with value) found
//!   too little to pay, and failed.
//!
//! A transfer out that succeeded leaves *headroom*: the balance minus the value at that moment.
//! The outcome stays the same while the starting balance moves by no more than the smallest
//! headroom downwards, and by any amount upwards.
//!
//! The EVM's instruction table gets wrappers around those opcodes ([`install`]); they record into
//! a per-thread log that [`crate::TxExecutor`] clears before each transaction and takes after
//! it. revm runs each transaction on one thread, start to end, so the log is that
//! transaction's.

use alloy_primitives::{Address, U256};
use revm::{
    bytecode::opcode,
    handler::instructions::EthInstructions,
    interpreter::{
        Host, Instruction, InstructionContext, InstructionExecResult,
        instructions::{contract, host, utility::IntoAddress},
        interpreter::EthInterpreter,
        interpreter_types::InputsTr,
    },
};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

/// How one transaction used the balances it read beyond changing them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceUses {
    /// Accounts whose balance the execution depended on.
    pub observed: Vec<Address>,
    /// Accounts that paid out, with the smallest balance left over a payment.
    pub headroom: Vec<(Address, U256)>,
}

impl BalanceUses {
    /// Returns `true` when the execution depended on `address`'s balance.
    pub fn observed(&self, address: &Address) -> bool {
        self.observed.contains(address)
    }

    /// The smallest headroom left by a payment out of `address`, if it paid out.
    pub fn headroom(&self, address: &Address) -> Option<U256> {
        self.headroom
            .iter()
            .find(|(a, _)| a == address)
            .map(|(_, h)| *h)
    }

    fn observe(&mut self, address: Address) {
        if !self.observed.contains(&address) {
            self.observed.push(address);
        }
    }

    fn pay(&mut self, payer: Address, balance: U256, value: U256) {
        let Some(left) = balance.checked_sub(value) else {
            // The payment fails for want of funds: that failure depends on the balance.
            self.observe(payer);
            return;
        };
        match self.headroom.iter_mut().find(|(a, _)| *a == payer) {
            Some((_, headroom)) => *headroom = (*headroom).min(left),
            None => self.headroom.push((payer, left)),
        }
    }
}

thread_local! {
    static LOG: RefCell<BalanceUses> = RefCell::default();
}

/// Starts a transaction's log on this thread.
pub(crate) fn begin() {
    LOG.with_borrow_mut(|log| {
        log.observed.clear();
        log.headroom.clear();
    });
}

/// Ends the transaction's log on this thread and returns it.
pub(crate) fn take() -> BalanceUses {
    LOG.with_borrow_mut(std::mem::take)
}

fn record(f: impl FnOnce(&mut BalanceUses)) {
    LOG.with_borrow_mut(f);
}

/// Wraps the opcodes that can depend on a balance so that they record it.
pub fn install<H: Host>(instructions: &mut EthInstructions<EthInterpreter, H>) {
    let wrap =
        |instructions: &mut EthInstructions<EthInterpreter, H>,
         op: u8,
         wrapper: fn(InstructionContext<'_, H, EthInterpreter>) -> InstructionExecResult| {
            let gas = instructions.gas_table()[op as usize];
            instructions.insert_instruction(op, Instruction::new(wrapper), gas);
        };
    wrap(instructions, opcode::BALANCE, balance);
    wrap(instructions, opcode::SELFBALANCE, self_balance);
    wrap(instructions, opcode::SELFDESTRUCT, self_destruct);
    wrap(instructions, opcode::CALL, call);
    wrap(instructions, opcode::CALLCODE, call_code);
    wrap(instructions, opcode::CREATE, create);
    wrap(instructions, opcode::CREATE2, create2);
}

fn balance<H: Host>(ctx: InstructionContext<'_, H, EthInterpreter>) -> InstructionExecResult {
    if let Ok(top) = ctx.interpreter.stack.peek(0) {
        record(|log| log.observe(top.into_address()));
    }
    host::balance(ctx)
}

fn self_balance<H: Host>(ctx: InstructionContext<'_, H, EthInterpreter>) -> InstructionExecResult {
    let me = ctx.interpreter.input.target_address();
    record(|log| log.observe(me));
    host::selfbalance(ctx)
}

fn self_destruct<H: Host>(ctx: InstructionContext<'_, H, EthInterpreter>) -> InstructionExecResult {
    let me = ctx.interpreter.input.target_address();
    record(|log| log.observe(me));
    host::selfdestruct(ctx)
}

/// Records a payment of the value at stack position `value_at` out of the running account.
fn pay<H: Host>(ctx: &mut InstructionContext<'_, H, EthInterpreter>, value_at: usize) {
    let Ok(value) = ctx.interpreter.stack.peek(value_at) else {
        return;
    };
    if value.is_zero() {
        return;
    }
    let me = ctx.interpreter.input.target_address();
    match ctx.host.balance(me) {
        Some(balance) => record(|log| log.pay(me, balance.data, value)),
        None => record(|log| log.observe(me)),
    }
}

fn call<H: Host>(mut ctx: InstructionContext<'_, H, EthInterpreter>) -> InstructionExecResult {
    // Stack: gas, to, value, ...
    pay(&mut ctx, 2);
    contract::call::<{ opcode::CALL }, _, _>(ctx)
}

fn call_code<H: Host>(mut ctx: InstructionContext<'_, H, EthInterpreter>) -> InstructionExecResult {
    pay(&mut ctx, 2);
    contract::call::<{ opcode::CALLCODE }, _, _>(ctx)
}

fn create<H: Host>(mut ctx: InstructionContext<'_, H, EthInterpreter>) -> InstructionExecResult {
    // Stack: value, offset, size (, salt)
    pay(&mut ctx, 0);
    contract::create::<false, _, _>(ctx)
}

fn create2<H: Host>(mut ctx: InstructionContext<'_, H, EthInterpreter>) -> InstructionExecResult {
    pay(&mut ctx, 0);
    contract::create::<true, _, _>(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_payment_observes_and_successes_keep_the_least_headroom() {
        let (a, b) = (Address::with_last_byte(1), Address::with_last_byte(2));
        let mut uses = BalanceUses::default();
        uses.pay(a, U256::from(10), U256::from(3));
        uses.pay(a, U256::from(7), U256::from(5));
        uses.pay(b, U256::from(1), U256::from(2));
        assert_eq!(uses.headroom(&a), Some(U256::from(2)));
        assert!(!uses.observed(&a));
        assert!(uses.observed(&b));
        assert_eq!(uses.headroom(&b), None);
    }
}

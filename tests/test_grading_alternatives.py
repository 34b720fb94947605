"""An honest answer written another way scores full marks.

Each alternative is a solution notebook with one solution cell rewritten correctly in another
way a learner might take, as the exercise allows: a loop for vectorised code, another formula,
another idiom. Every alternative must pass every test the notebook shows the learner, and every
one of the judge's checks, which alone score the cells: the grading asks for the right answer,
not for the model solution's way to it. The alternatives of an assignment run together, forked
from one run of its notebook (tests/mutation.py), like the typical mistakes of
tests/test_grading_mutants.py, whose opposite this is.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from test_grading_mutants import verdicts

from pgcourse.grading import driver

REPO = Path(__file__).resolve().parents[1]

# (assignment, grade_id of the solution cell, the other way, text in the solution, its rewrite)
ALTERNATIVES = [
    # score_function
    ("score_function", "log_prob", "log-sum-exp by np.logaddexp.reduce, no shift by hand",
     "    shifted = logits - logits.max()  # the largest exponent is now 0: exp cannot overflow\n"
     "    return float(shifted[a] - np.log(np.exp(shifted).sum()))",
     "    return float(logits[a] - np.logaddexp.reduce(logits))"),
    ("score_function", "grad_log_prob", "pi = exp(log-softmax); s (e_a - pi) by broadcasting",
     """\
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    onehot = np.zeros_like(probs)
    onehot[a] = 1.0
    return np.outer(s, onehot - probs)""",
     """\
    probs = np.exp(logits - np.logaddexp.reduce(logits))
    return s[:, None] * (np.eye(len(probs))[a] - probs)[None, :]"""),
    ("score_function", "discounted_return", "Horner's rule in a loop from the last reward",
     "    rewards = np.asarray(rewards, dtype=float)\n"
     "    return float(np.sum(gamma ** np.arange(len(rewards)) * rewards))",
     """\
    total = 0.0
    for reward in reversed(list(rewards)):  # R = r_0 + gamma (r_1 + gamma (r_2 + ...))
        total = reward + gamma * total
    return float(total)"""),
    ("score_function", "discounted_return", "a polynomial in gamma, np.polyval",
     "    return float(np.sum(gamma ** np.arange(len(rewards)) * rewards))",
     "    return float(np.polyval(rewards[::-1], gamma))  # r_0 + r_1 gamma + r_2 gamma^2 ..."),
    ("score_function", "reward_to_go", "Hugging Face's idiom: a deque filled from the end",
     """\
    togo = np.zeros_like(rewards)
    running = 0.0
    for t in reversed(range(len(rewards))):  # backwards: R_t = r_t + gamma * R_{t+1}
        running = rewards[t] + gamma * running
        togo[t] = running
    return togo""",
     """\
    from collections import deque

    returns = deque(maxlen=len(rewards))
    for t in range(len(rewards))[::-1]:
        disc_return_t = returns[0] if len(returns) > 0 else 0
        returns.appendleft(gamma * disc_return_t + rewards[t])
    return np.array(returns)"""),
    ("score_function", "reward_to_go", "PyTorch in float32: a matrix of discounts gamma^(k - t)",
     """\
    rewards = np.asarray(rewards, dtype=float)
    togo = np.zeros_like(rewards)
    running = 0.0
    for t in reversed(range(len(rewards))):  # backwards: R_t = r_t + gamma * R_{t+1}
        running = rewards[t] + gamma * running
        togo[t] = running
    return togo""",
     """\
    rewards = torch.tensor(np.asarray(rewards), dtype=torch.float32)
    steps = torch.arange(len(rewards))
    lag = (steps[None, :] - steps[:, None]).float()  # k - t, row t and column k
    discounts = torch.where(lag >= 0, gamma ** lag.clamp(min=0), 0.0)
    return discounts @ rewards"""),
    ("score_function", "score_function_estimate", "the mean of a list of per-episode gradients",
     """\
    grad = np.zeros(np.shape(theta))
    for states, episode_actions, episode_rewards in zip(features, actions, rewards, strict=True):
        episode_return = discounted_return(episode_rewards, gamma)
        for s, a in zip(states, episode_actions, strict=True):
            grad += grad_log_prob(theta, s, a) * episode_return
    return grad / len(features)""",
     """\
    per_episode = [
        discounted_return(r, gamma) * sum(grad_log_prob(theta, s, a) for s, a in zip(S, A))
        for S, A, r in zip(features, actions, rewards, strict=True)
    ]
    return np.mean(per_episode, axis=0)"""),
    ("score_function", "surrogate_loss", "returns by Horner's rule, the sum by torch.einsum",
     """\
    discounts = gamma ** torch.arange(rewards.shape[1], dtype=rewards.dtype)
    returns = (rewards * discounts).sum(dim=1)  # R(tau_i): constants, no gradient flows here
    return -(taken.sum(dim=1) * returns).mean()""",
     """\
    returns = torch.zeros(len(rewards), dtype=rewards.dtype)
    for t in reversed(range(rewards.shape[1])):  # R = r_0 + gamma (r_1 + gamma (...))
        returns = rewards[:, t] + gamma * returns
    return -torch.einsum("it,i->", taken, returns) / len(features)"""),

    # reinforce
    ("reinforce", "reinforce_weights",
     "to-go as the total minus the rewards before t; the baseline by nanmean",
     """\
    reward_to_go = batch.rewards.flip(1).cumsum(1).flip(1)  # sum of r_k for k >= t
    mask = batch.mask.float()
    running = mask.sum(0).clamp(min=1)  # episodes still running at each step
    baseline = (reward_to_go * mask).sum(0) / running
    return (reward_to_go - baseline) * mask""",
     """\
    rewards = batch.rewards
    reward_to_go = rewards.sum(1, keepdim=True) - rewards.cumsum(1) + rewards
    baseline = torch.where(batch.mask, reward_to_go, torch.nan).nanmean(0).nan_to_num(0.0)
    return torch.where(batch.mask, reward_to_go - baseline, 0.0)"""),
    ("reinforce", "reinforce_weights", "loops over the steps: to-go backwards, then each mean",
     """\
    reward_to_go = batch.rewards.flip(1).cumsum(1).flip(1)  # sum of r_k for k >= t
    mask = batch.mask.float()
    running = mask.sum(0).clamp(min=1)  # episodes still running at each step
    baseline = (reward_to_go * mask).sum(0) / running
    return (reward_to_go - baseline) * mask""",
     """\
    n, steps = batch.rewards.shape
    reward_to_go, running = torch.zeros(n, steps), torch.zeros(n)
    for t in reversed(range(steps)):
        running = running + batch.rewards[:, t]
        reward_to_go[:, t] = running
    weights = torch.zeros(n, steps)
    for t in range(steps):
        alive = batch.mask[:, t]
        if alive.any():
            weights[alive, t] = reward_to_go[alive, t] - reward_to_go[alive, t].mean()
    return weights"""),
    ("reinforce", "reinforce_loss", "only the real steps, picked by boolean indexing",
     "    return -(log_probs * weights * batch.mask).sum() / batch.num_episodes",
     "    real = batch.mask\n"
     "    return -(log_probs[real] * weights[real]).sum() / len(batch.rewards)"),
    ("reinforce", "train_reinforce", "a while loop that returns when solved, try/finally",
     """\
    for update in range(1, max_updates + 1):
        batch = rollout(policy, envs, 16)
        loss = reinforce_loss(policy, batch, reinforce_weights(batch))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if update % 5 == 0 and evaluate(policy).mean >= SOLVED_RETURN:
            break
    envs.close()
    return policy, update""",
     """\
    updates = 0
    try:
        while updates < max_updates:
            batch = rollout(policy, envs, 16)
            weights = reinforce_weights(batch)
            optimizer.zero_grad()
            reinforce_loss(policy, batch, weights).backward()
            optimizer.step()
            updates += 1
            if updates % 5 == 0:
                if evaluate(policy).mean >= SOLVED_RETURN:
                    return policy, updates
    finally:
        envs.close()
    return policy, updates"""),

    # stochastic_policy
    ("stochastic_policy", "softmax", "exp of the log-softmax, log-sum-exp by np.logaddexp",
     """\
    shifted = logits - logits.max(axis=-1, keepdims=True)  # each row's largest exponent is 0
    exps = np.exp(shifted)
    return exps / exps.sum(axis=-1, keepdims=True)""",
     "    return np.exp(logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True))"),
    ("stochastic_policy", "softmax", "row by row in a loop",
     """\
    shifted = logits - logits.max(axis=-1, keepdims=True)  # each row's largest exponent is 0
    exps = np.exp(shifted)
    return exps / exps.sum(axis=-1, keepdims=True)""",
     """\
    rows = np.atleast_2d(logits)
    probs = np.empty_like(rows)
    for i, row in enumerate(rows):
        exps = np.exp(row - row.max())
        probs[i] = exps / exps.sum()
    return probs.reshape(logits.shape)"""),
    ("stochastic_policy", "sample_action", "a running sum in a loop; the last action otherwise",
     """\
    cumulative = np.cumsum(probs)
    # The actions with F(a) <= u come first, and the last action takes every u past the
    # second-to-last sum: a total rounded a hair below 1 cannot push a past the end.
    return int(np.sum(cumulative[:-1] <= u))""",
     """\
    total = 0.0
    for a, p in enumerate(probs):
        total += p
        if total > u:
            return a
    return len(probs) - 1"""),
    ("stochastic_policy", "sample_action", "np.searchsorted(side='right'), clipped",
     "    return int(np.sum(cumulative[:-1] <= u))",
     "    return int(min(np.searchsorted(cumulative, u, side='right'), len(probs) - 1))"),
    ("stochastic_policy", "sequence_log_prob", "step by step, log-sum-exp by np.logaddexp",
     """\
    logits = np.asarray(logits, dtype=float)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # (T, num_actions)
    return float(log_probs[np.arange(len(actions)), actions].sum())""",
     """\
    total = 0.0
    for h, a in zip(np.asarray(logits, dtype=float), actions, strict=True):
        total += h[a] - np.logaddexp.reduce(h)
    return float(total)"""),
    ("stochastic_policy", "sequence_log_prob",
     "the taken preferences by np.take_along_axis minus each row's log-normaliser",
     """\
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # (T, num_actions)
    return float(log_probs[np.arange(len(actions)), actions].sum())""",
     """\
    top = logits.max(axis=1)
    log_normaliser = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
    taken = np.take_along_axis(logits, np.asarray(actions)[:, None], axis=1)[:, 0]
    return float((taken - log_normaliser).sum())"""),
    ("stochastic_policy", "episode_return",
     "the environment as a context manager, while True, the rewards kept in a list",
     """\
    env = make_env(seed=seed)
    state, _ = env.reset(seed=seed)
    rng = np.random.default_rng(sample_seed)
    total, done = 0.0, False
    while not done:
        probs = softmax(state @ theta)
        action = int(np.argmax(probs)) if greedy else sample_action(probs, rng.random())
        state, reward, terminated, truncated, _ = env.step(action)
        total += reward
        done = terminated or truncated  # truncated: CartPole-v1's limit of 500 steps
    env.close()
    return total""",
     """\
    rng = np.random.default_rng(sample_seed)
    rewards = []
    with make_env(seed=seed) as env:
        state, _ = env.reset(seed=seed)
        while True:
            probs = softmax(state @ theta)
            if greedy:
                action = int(np.argmax(probs))
            else:
                action = sample_action(probs, rng.random())
            state, reward, terminated, truncated, _ = env.step(action)
            rewards.append(reward)
            if terminated or truncated:
                break
    return float(sum(rewards))"""),
    ("stochastic_policy", "episode_return",
     "greedy by the largest preference s @ theta (the most probable action), no softmax",
     """\
    while not done:
        probs = softmax(state @ theta)
        action = int(np.argmax(probs)) if greedy else sample_action(probs, rng.random())""",
     """\
    while not done:
        preferences = state @ theta
        if greedy:  # softmax is increasing: the largest preference is the most probable action
            action = int(np.argmax(preferences))
        else:
            action = sample_action(softmax(preferences), rng.random())"""),

    # objective
    ("objective", "exact_objective",
     "states and actions enumerated apart; P and R as NumPy products and sums",
     """\
    steps = list(itertools.product(range(len(initial)), range(np.shape(pi)[1])))
    total = 0.0
    for tau in itertools.product(steps, repeat=horizon):  # tau = ((s_0, a_0), (s_1, a_1), ...)
        probability, episode_return = initial[tau[0][0]], 0.0
        for t, (s, a) in enumerate(tau):
            probability *= pi[s, a]
            episode_return += gamma**t * rewards[s, a]
            if t + 1 < horizon:  # the move to s_{t+1}; after the last step no state matters
                probability *= transitions[s, a, tau[t + 1][0]]
        total += probability * episode_return""",
     """\
    num_states, num_actions = np.shape(pi)
    discounts = gamma ** np.arange(horizon)
    total = 0.0
    for states in itertools.product(range(num_states), repeat=horizon):
        for actions in itertools.product(range(num_actions), repeat=horizon):
            s, a = np.array(states), np.array(actions)
            moves = transitions[s[:-1], a[:-1], s[1:]]  # p(s_{t+1} | s_t, a_t), t < T - 1
            probability = initial[s[0]] * np.prod(pi[s, a]) * np.prod(moves)
            total += probability * np.sum(discounts * rewards[s, a])"""),
    ("objective", "exact_objective", "a recursive depth-first walk over the trajectories",
     """\
    steps = list(itertools.product(range(len(initial)), range(np.shape(pi)[1])))
    total = 0.0
    for tau in itertools.product(steps, repeat=horizon):  # tau = ((s_0, a_0), (s_1, a_1), ...)
        probability, episode_return = initial[tau[0][0]], 0.0
        for t, (s, a) in enumerate(tau):
            probability *= pi[s, a]
            episode_return += gamma**t * rewards[s, a]
            if t + 1 < horizon:  # the move to s_{t+1}; after the last step no state matters
                probability *= transitions[s, a, tau[t + 1][0]]
        total += probability * episode_return
    return float(total)""",
     """\
    num_states, num_actions = np.shape(pi)

    def walk(t, s, probability, earned):
        # the sum of P(tau) R(tau) over the trajectories that begin so and are in s at step t
        total = 0.0
        for a in range(num_actions):
            p, ret = probability * pi[s, a], earned + gamma**t * rewards[s, a]
            if t + 1 == horizon:
                total += p * ret
            else:
                for s2 in range(num_states):
                    total += walk(t + 1, s2, p * transitions[s, a, s2], ret)
        return total

    return float(sum(walk(0, s, initial[s], 0.0) for s in range(num_states)))"""),
    ("objective", "monte_carlo_interval", "Python's statistics module",
     """\
    returns = np.asarray(returns, dtype=float)
    estimate = returns.mean()
    half_width = 1.96 * returns.std(ddof=1) / np.sqrt(len(returns))
    return float(estimate), float(estimate - half_width), float(estimate + half_width)""",
     """\
    import statistics

    estimate = statistics.fmean(returns)
    half_width = 1.96 * statistics.stdev(returns) / len(returns) ** 0.5
    return estimate, estimate - half_width, estimate + half_width"""),
    ("objective", "monte_carlo_interval", "the sample variance written out, sqrt(s^2 / m)",
     """\
    estimate = returns.mean()
    half_width = 1.96 * returns.std(ddof=1) / np.sqrt(len(returns))""",
     """\
    m = len(returns)
    estimate = returns.sum() / m
    sample_variance = ((returns - estimate) ** 2).sum() / (m - 1)
    half_width = 1.96 * np.sqrt(sample_variance / m)"""),
    ("objective", "central_difference_gradient",
     "a copy nudged in place, entry by entry, and restored",
     """\
    theta = np.asarray(theta, dtype=float)
    gradient = np.zeros_like(theta)
    for i in np.ndindex(*theta.shape):
        nudge = np.zeros_like(theta)
        nudge[i] = delta
        gradient[i] = (estimate(theta + nudge, seed) - estimate(theta - nudge, seed)) / (2 * delta)
    return gradient""",
     """\
    point = np.array(theta, dtype=float)  # a copy: the theta given stays unchanged
    gradient = np.zeros_like(point)
    for i in np.ndindex(*point.shape):
        original = point[i]
        point[i] = original + delta
        plus = estimate(point, seed)
        point[i] = original - delta
        minus = estimate(point, seed)
        point[i] = original
        gradient[i] = (plus - minus) / (2 * delta)
    return gradient"""),
    ("objective", "central_difference_gradient", "the basis vectors e_i as the rows of np.eye",
     """\
    gradient = np.zeros_like(theta)
    for i in np.ndindex(*theta.shape):
        nudge = np.zeros_like(theta)
        nudge[i] = delta
        gradient[i] = (estimate(theta + nudge, seed) - estimate(theta - nudge, seed)) / (2 * delta)
    return gradient""",
     """\
    basis = np.eye(theta.size).reshape(theta.size, *theta.shape)  # e_i, each shaped like theta
    slopes = [
        (estimate(theta + delta * e, seed) - estimate(theta - delta * e, seed)) / (2 * delta)
        for e in basis
    ]
    return np.array(slopes).reshape(theta.shape)"""),
    ("objective", "central_difference_errors", "the max norm, np.linalg.norm(ord=inf)",
     """\
    errors = []
    for delta in deltas:  # J is exact: the seed draws nothing
        gradient = central_difference_gradient(lambda theta, seed: J(theta), theta, delta, seed=0)
        errors.append(np.abs(gradient - exact).max())
    return np.array(errors)""",
     """\
    def error(delta):
        gradient = central_difference_gradient(lambda t, seed: J(t), theta, delta, seed=0)
        return np.linalg.norm(np.ravel(gradient - exact), ord=np.inf)

    return np.array([error(delta) for delta in deltas])"""),

    # variance
    ("variance", "reward_to_go_weights", "vectorised: a matrix of discounts gamma^(k - t)",
     """\
    to_go = torch.zeros_like(rewards)
    running = torch.zeros(len(rewards), dtype=rewards.dtype)
    for t in reversed(range(rewards.shape[1])):  # backwards: R_t = r_t + gamma * R_{t+1}
        running = rewards[:, t] + gamma * running
        to_go[:, t] = running""",
     """\
    steps = torch.arange(rewards.shape[1])
    lag = (steps[None, :] - steps[:, None]).to(rewards.dtype)  # k - t, row t and column k
    discounts = torch.where(lag >= 0, gamma ** lag.clamp(min=0), 0.0)
    to_go = rewards @ discounts.T"""),
    ("variance", "reward_to_go_weights", "each step's sum by the formula, stacked",
     """\
    to_go = torch.zeros_like(rewards)
    running = torch.zeros(len(rewards), dtype=rewards.dtype)
    for t in reversed(range(rewards.shape[1])):  # backwards: R_t = r_t + gamma * R_{t+1}
        running = rewards[:, t] + gamma * running
        to_go[:, t] = running""",
     """\
    steps = rewards.shape[1]
    to_go = torch.stack(
        [
            (rewards[:, t:] * gamma ** torch.arange(steps - t, dtype=rewards.dtype)).sum(1)
            for t in range(steps)
        ],
        dim=1,
    )"""),
    ("variance", "reward_to_go_weights",
     "gamma^t R_t as the reversed cumulative sum of gamma^k r_k",
     "        to_go = to_go * gamma ** torch.arange(rewards.shape[1], dtype=rewards.dtype)",
     "        discounted = rewards * gamma ** torch.arange(rewards.shape[1], dtype=rewards.dtype)\n"
     "        to_go = discounted.flip(1).cumsum(1).flip(1)  # sum_{k >= t} gamma^k r_k"),
    ("variance", "batch_baseline", "torch.nanmean over the running episodes' entries",
     """\
    mask = mask.float()
    running = mask.sum(0)  # n_t, the episodes still running at each step
    return (to_go * mask).sum(0) / running.clamp(min=1)""",
     """\
    running = torch.where(mask, to_go, torch.nan)
    return torch.nanmean(running, dim=0).nan_to_num(0.0)  # no episode runs: nan, then 0"""),
    ("variance", "batch_baseline", "a loop over the steps, 0 where none runs",
     """\
    mask = mask.float()
    running = mask.sum(0)  # n_t, the episodes still running at each step
    return (to_go * mask).sum(0) / running.clamp(min=1)""",
     """\
    baseline = torch.zeros(to_go.shape[1], dtype=to_go.dtype)
    for t in range(to_go.shape[1]):
        running = to_go[mask[:, t], t]
        if len(running) > 0:
            baseline[t] = running.mean()
    return baseline"""),
    ("variance", "exact_moments", "np.einsum, and the variance as E[g^2] - E[g]^2",
     """\
    g = (scores * weights[:, :, None, None]).sum(axis=1)  # g_hat(tau), shape (64, 3, 2)
    mean = (prob[:, None, None] * g).sum(axis=0)
    variance = float((prob * ((g - mean) ** 2).sum(axis=(1, 2))).sum())""",
     """\
    g = np.einsum("itda,it->ida", scores, weights)
    mean = np.einsum("i,ida->da", prob, g)
    variance = float(np.einsum("i,ida->", prob, g**2) - (mean**2).sum())"""),
    ("variance", "exact_moments", "a loop over the trajectories, np.tensordot over the steps",
     """\
    g = (scores * weights[:, :, None, None]).sum(axis=1)  # g_hat(tau), shape (64, 3, 2)
    mean = (prob[:, None, None] * g).sum(axis=0)
    variance = float((prob * ((g - mean) ** 2).sum(axis=(1, 2))).sum())""",
     """\
    mean = np.zeros(scores.shape[2:])
    for p, score, w in zip(prob, scores, weights, strict=True):
        mean += p * np.tensordot(w, score, axes=1)
    variance = 0.0
    for p, score, w in zip(prob, scores, weights, strict=True):
        variance += p * np.sum((np.tensordot(w, score, axes=1) - mean) ** 2)"""),
    ("variance", "optimal_baseline", "np.average of R weighted by P(tau) ||S||^2",
     """\
    score_sq = (scores.sum(axis=1) ** 2).sum(axis=(1, 2))  # ||S(tau)||^2
    returns = rewards.sum(axis=1)  # R(tau), gamma = 1
    return float((prob * score_sq * returns).sum() / (prob * score_sq).sum())""",
     """\
    total_scores = scores.sum(axis=1).reshape(len(prob), -1)  # S(tau), flattened
    weights = prob * np.einsum("ij,ij->i", total_scores, total_scores)
    return float(np.average(rewards.sum(axis=1), weights=weights))"""),

    # actor_critic
    ("actor_critic", "fit_critic", "F.mse_loss on the real steps; the losses kept in a list",
     """\
    targets, mask = targets.detach(), batch.mask.float()
    for _ in range(num_steps):
        loss = (mask * (critic(batch.obs) - targets) ** 2).sum() / mask.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(loss.detach())""",
     """\
    real, losses = batch.mask, []
    for _ in range(num_steps):
        values = critic(batch.obs)
        loss = torch.nn.functional.mse_loss(values[real], targets.detach()[real])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses[-1]"""),
    ("actor_critic", "advantages", "detach() instead of no_grad, torch.where for the padding",
     """\
    with torch.no_grad():
        values = critic(batch.obs)  # V(s_t), a constant for the actor
    return (targets - values) * batch.mask""",
     "    return torch.where(batch.mask, targets - critic(batch.obs).detach(), 0.0)"),
    ("actor_critic", "one_step_targets", "detach(), masked_fill at terminal states, torch.where",
     """\
    with torch.no_grad():
        next_values = critic(batch.next_obs)  # V(s_(t+1)); only termination ends the future
    return (batch.rewards + gamma * next_values * ~batch.terminated) * batch.mask""",
     """\
    next_values = critic(batch.next_obs).detach().masked_fill(batch.terminated, 0.0)
    targets = batch.rewards + gamma * next_values
    return torch.where(batch.mask, targets, torch.zeros_like(targets))"""),
    ("actor_critic", "train_actor_critic",
     "a while loop on the list of checks; the loss summed per episode, then averaged",
     """\
    passes = 0  # checks passed in a row
    for update in range(1, max_updates + 1):
        batch = rollout(policy, envs, 16)
        for _ in range(3):  # the targets move with the critic: refit on fresh ones
            fit_critic(critic, critic_optimizer, batch, one_step_targets(critic, batch, 0.99), 5)
        weights = advantages(critic, batch, one_step_targets(critic, batch, 0.99))
        log_probs = policy(batch.obs).log_prob(batch.actions)
        loss = -(log_probs * weights).sum() / batch.num_episodes
        actor_optimizer.zero_grad()
        loss.backward()
        actor_optimizer.step()
        if update % 5 == 0:
            passes = passes + 1 if evaluate(policy).mean >= SOLVED_RETURN else 0
            if passes == 2:  # one pass can be luck on evaluate's 100 episodes
                break
    envs.close()
    return policy, update""",
     """\
    solved, updates = [], 0  # every check's outcome, in order
    while updates < max_updates and solved[-2:] != [True, True]:
        batch = rollout(policy, envs, 16)
        for _ in range(3):
            targets = one_step_targets(critic, batch, 0.99)
            fit_critic(critic, critic_optimizer, batch, targets, 5)
        weights = advantages(critic, batch, one_step_targets(critic, batch, 0.99))
        log_probs = policy(batch.obs).log_prob(batch.actions)
        loss = -(log_probs * weights * batch.mask).sum(dim=1).mean()
        actor_optimizer.zero_grad()
        loss.backward()
        actor_optimizer.step()
        updates += 1
        if updates % 5 == 0:
            solved.append(evaluate(policy).mean >= SOLVED_RETURN)
    envs.close()
    return policy, updates"""),
]  # fmt: skip


ASSIGNMENTS = sorted({a[0] for a in ALTERNATIVES})


def of(assignment: str) -> list[tuple]:
    return [a for a in ALTERNATIVES if a[0] == assignment]


@pytest.mark.timeout(3600)  # the training assignments train once per alternative
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_alternative_passes_the_notebooks_tests(assignment, tmp_path):
    """Each alternative passes every test cell its notebook shows the learner: no test cell
    asks for the model solution's way."""
    found = verdicts(of(assignment), tmp_path)
    failed = {k: v for k, v in found.items() if v is not None}
    assert not failed, f"honest alternatives that the learner's tests fail: {failed}"


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_alternative_passes_the_judge(assignment, tmp_path):
    """Each alternative passes every one of the judge's checks of its assignment, on the inputs
    of a seed drawn for this run (printed), compared with the solution's answers."""
    seed = secrets.randbits(63)
    print(f"judge's inputs from seed {seed}")
    found = verdicts(of(assignment), tmp_path, "--judge", assignment, str(seed))
    failed = {k: v for k, v in found.items() if v is not None}
    assert not failed, f"honest alternatives that the judge fails (seed {seed}): {failed}"


@pytest.mark.parametrize("assignment", driver.Course(REPO).assignments())
def test_every_assignment_has_three_alternatives(assignment):
    assert sum(a[0] == assignment for a in ALTERNATIVES) >= 3

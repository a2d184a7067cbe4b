/**
 * Evaluation metrics over typed arrays, computed the way scikit-learn defines them so a
 * figure here can be checked against `sklearn.metrics` (test/evaluation-sklearn.test.ts
 * does, within 1e-9):
 *
 * - AUC: the Mann–Whitney statistic with tied scores given their average rank, which is
 *   exactly the trapezoidal area under the ROC curve `roc_auc_score` computes. Multiclass:
 *   one-vs-rest, macro-averaged (`multi_class='ovr'`). Undefined (null, with the reason)
 *   when a class the average needs is absent from the labels.
 * - precision / recall / F1: of the positive class (index 1) for two classes; macro over the
 *   classes present in the labels or the predictions for more (scikit-learn's default set).
 *   A zero denominator gives 0, as scikit-learn's `zero_division='warn'` does.
 * - log loss: probabilities clipped to [ε, 1−ε] with ε the float64 epsilon (scikit-learn ≥ 1.5).
 * - ECE: 10 equal-width bins of the top-label confidence (max probability), bin b holding
 *   confidences in (b/10, (b+1)/10] (0 in the first); Σ n_b/n · |accuracy_b − confidence_b|.
 * - RMSE, MAE, R² (null when the labels are constant: R² divides by their variance).
 *
 * Predictions are the first class with the highest probability (numpy's argmax).
 * `rows` selects a subset (a slice) without copying the columns.
 */

/** A metric's value, or null when it is undefined on these rows. */
export type MetricValue = number | null;

/** Metric values by name, with the reason for each null. */
export interface MetricSet {
  rows: number;
  metrics: Record<string, MetricValue>;
  /** Why a metric is null (or a caveat, e.g. a precision with no positive predictions). */
  notes: Record<string, string>;
}

export const CLASSIFICATION_METRICS = [
  'auc',
  'accuracy',
  'precision',
  'recall',
  'f1',
  'log_loss',
  'ece',
] as const;
export const REGRESSION_METRICS = ['rmse', 'mae', 'r2'] as const;

/** Whether a larger value of `metric` is better (AUC, accuracy…) or worse (losses, errors). */
export function higherIsBetter(metric: string): boolean {
  return !['log_loss', 'ece', 'rmse', 'mae'].includes(metric);
}

/** Labels as class indexes and each row's K probabilities, row-major. */
export interface ClassificationData {
  /** Class index (0..k-1) of each row's true label. */
  labels: Int32Array;
  /** `labels.length × k` probabilities. */
  probabilities: Float64Array;
  /** Number of classes. */
  k: number;
}

const EPS = Number.EPSILON; // numpy.finfo(float64).eps

function allRows(n: number): Int32Array {
  const rows = new Int32Array(n);
  for (let i = 0; i < n; i++) rows[i] = i;
  return rows;
}

/**
 * Area under the ROC curve of `scores` for `positive` (true) against the rest, ties at
 * their average rank; null when either side is empty.
 */
export function rocAuc(scores: Float64Array, positive: Uint8Array): MetricValue {
  const n = scores.length;
  const order = allRows(n).sort((a, b) => scores[a]! - scores[b]!);
  let nPos = 0;
  for (let i = 0; i < n; i++) nPos += positive[i]!;
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return null;
  // Sum of the positives' ranks (1-based), a tied run sharing its average rank.
  let rankSum = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const average = (i + j + 2) / 2;
    for (let t = i; t <= j; t++) if (positive[order[t]!] === 1) rankSum += average;
    i = j + 1;
  }
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/**
 * Classification metrics of `data` on `rows` (default: all rows).
 *
 * @example
 * classificationMetrics({ labels: Int32Array.of(0, 1), probabilities: Float64Array.of(0.8, 0.2, 0.3, 0.7), k: 2 });
 */
export function classificationMetrics(data: ClassificationData, rows?: Int32Array): MetricSet {
  const { labels, probabilities, k } = data;
  const index = rows ?? allRows(labels.length);
  const n = index.length;
  const metrics: Record<string, MetricValue> = {};
  const notes: Record<string, string> = {};
  if (n === 0) {
    for (const m of CLASSIFICATION_METRICS) {
      metrics[m] = null;
      notes[m] = 'no rows';
    }
    return { rows: 0, metrics, notes };
  }
  // Confusion counts per class, log loss and calibration bins in one pass.
  const truePos = new Float64Array(k);
  const predicted = new Float64Array(k);
  const actual = new Float64Array(k);
  const binCount = new Float64Array(10);
  const binCorrect = new Float64Array(10);
  const binConfidence = new Float64Array(10);
  let correct = 0;
  let loss = 0;
  for (let r = 0; r < n; r++) {
    const i = index[r]!;
    const base = i * k;
    let best = 0;
    for (let c = 1; c < k; c++)
      if (probabilities[base + c]! > probabilities[base + best]!) best = c;
    const y = labels[i]!;
    actual[y]!++;
    predicted[best]!++;
    if (best === y) {
      correct++;
      truePos[y]!++;
    }
    const p = Math.min(Math.max(probabilities[base + y]!, EPS), 1 - EPS);
    loss -= Math.log(p);
    const confidence = probabilities[base + best]!;
    const bin = Math.min(Math.max(Math.ceil(confidence * 10) - 1, 0), 9);
    binCount[bin]!++;
    binConfidence[bin]! += confidence;
    if (best === y) binCorrect[bin]!++;
  }
  metrics.accuracy = correct / n;
  metrics.log_loss = loss / n;
  let ece = 0;
  for (let b = 0; b < 10; b++)
    if (binCount[b]! > 0)
      ece +=
        (binCount[b]! / n) *
        Math.abs(binCorrect[b]! / binCount[b]! - binConfidence[b]! / binCount[b]!);
  metrics.ece = ece;

  const perClass = (c: number) => {
    const fp = predicted[c]! - truePos[c]!;
    const fn = actual[c]! - truePos[c]!;
    const tp = truePos[c]!;
    return {
      precision: tp + fp === 0 ? 0 : tp / (tp + fp),
      recall: tp + fn === 0 ? 0 : tp / (tp + fn),
      f1: 2 * tp + fp + fn === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn),
    };
  };
  if (k === 2) {
    Object.assign(metrics, perClass(1));
    if (predicted[1] === 0) notes.precision = 'no row was predicted positive; precision is 0';
    if (actual[1] === 0) notes.recall = 'no row is labelled positive; recall is 0';
  } else {
    const present = [...Array(k).keys()].filter((c) => actual[c]! > 0 || predicted[c]! > 0);
    const sums = { precision: 0, recall: 0, f1: 0 };
    for (const c of present) {
      const m = perClass(c);
      sums.precision += m.precision;
      sums.recall += m.recall;
      sums.f1 += m.f1;
    }
    metrics.precision = sums.precision / present.length;
    metrics.recall = sums.recall / present.length;
    metrics.f1 = sums.f1 / present.length;
  }

  const missing = [...Array(k).keys()].filter((c) => actual[c] === 0);
  if (missing.length > 0) {
    metrics.auc = null;
    notes.auc =
      k === 2 || missing.length === k - 1
        ? 'only one class is present in the labels; AUC needs both positives and negatives'
        : `class index(es) ${missing.join(', ')} do not occur in the labels; one-vs-rest AUC needs every class`;
  } else {
    const scores = new Float64Array(n);
    const positive = new Uint8Array(n);
    const classes = k === 2 ? [1] : [...Array(k).keys()];
    let total = 0;
    for (const c of classes) {
      for (let r = 0; r < n; r++) {
        const i = index[r]!;
        scores[r] = probabilities[i * k + c]!;
        positive[r] = labels[i] === c ? 1 : 0;
      }
      total += rocAuc(scores, positive)!;
    }
    metrics.auc = total / classes.length;
  }
  return { rows: n, metrics: order(metrics, CLASSIFICATION_METRICS), notes };
}

/**
 * Regression metrics of `predictions` against `labels` on `rows` (default: all rows).
 *
 * @example
 * regressionMetrics(Float64Array.of(1, 2, 3), Float64Array.of(1.5, 2, 2.5)); // rmse ≈ 0.408
 */
export function regressionMetrics(
  labels: Float64Array,
  predictions: Float64Array,
  rows?: Int32Array,
): MetricSet {
  const index = rows ?? allRows(labels.length);
  const n = index.length;
  const metrics: Record<string, MetricValue> = {};
  const notes: Record<string, string> = {};
  if (n === 0) {
    for (const m of REGRESSION_METRICS) {
      metrics[m] = null;
      notes[m] = 'no rows';
    }
    return { rows: 0, metrics, notes };
  }
  let mean = 0;
  for (let r = 0; r < n; r++) mean += labels[index[r]!]!;
  mean /= n;
  let squared = 0;
  let absolute = 0;
  let total = 0;
  for (let r = 0; r < n; r++) {
    const i = index[r]!;
    const error = labels[i]! - predictions[i]!;
    squared += error * error;
    absolute += Math.abs(error);
    total += (labels[i]! - mean) ** 2;
  }
  metrics.rmse = Math.sqrt(squared / n);
  metrics.mae = absolute / n;
  if (total === 0) {
    metrics.r2 = null;
    notes.r2 = 'the labels are constant; R² divides by their variance';
  } else metrics.r2 = 1 - squared / total;
  return { rows: n, metrics, notes };
}

function order(
  metrics: Record<string, MetricValue>,
  names: readonly string[],
): Record<string, MetricValue> {
  return Object.fromEntries(names.map((m) => [m, metrics[m] ?? null]));
}

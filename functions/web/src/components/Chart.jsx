import {
  BarController, BarElement, CategoryScale, Chart, Legend, LineController, LineElement, LinearScale, PointElement, Tooltip,
} from 'chart.js';
import { useEffect, useRef } from 'preact/hooks';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Legend, Tooltip);
Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
Chart.defaults.color = '#1f2933';

/** Colours of the call statuses (the same as the badges in styles.css). */
export const STATUS_COLOURS = {
  answered: '#2f7d32',
  missed: '#c62828',
  busy: '#ef6c00',
  failed: '#6a1b9a',
  voicemail: '#1565c0',
  unknown: '#607d8b',
};

/**
 * A Chart.js chart on a canvas. The canvas is an image for screen readers, labelled by `label`; every chart on the
 * dashboard also has its numbers in a table, which is what assistive technology reads.
 */
export function ChartCanvas({ id, config, label }) {
  const canvas = useRef(null);
  const chart = useRef(null);
  useEffect(() => {
    chart.current = new Chart(canvas.current, config);
    return () => chart.current?.destroy();
  }, [config]);
  return (
    <div class="chart">
      <canvas id={id} ref={canvas} role="img" aria-label={label} />
    </div>
  );
}

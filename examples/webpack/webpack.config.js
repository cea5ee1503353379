// An ordinary webpack 5 app: one entry, an HTML page. Nothing here is for tabllm.
import HtmlWebpackPlugin from 'html-webpack-plugin';

export default {
  mode: 'production',
  entry: './src/index.js',
  output: { path: new URL('./dist', import.meta.url).pathname, clean: true },
  plugins: [new HtmlWebpackPlugin({ template: './src/index.html' })],
};
